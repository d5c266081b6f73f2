using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Starling.Broker.Storage;

/// <summary>
/// The one writer of a store (group commit). Any thread queues operations and callbacks without blocking; one
/// dedicated thread takes everything queued (up to <see cref="MaxBatch"/> operations), applies it in one transaction,
/// then runs the callbacks that were queued with it (acknowledgements that waited for durability, deferred sends,
/// reads of queued messages). While a transaction commits, new work accumulates for the next one, so the cost of a
/// commit is shared by every publish that arrived meanwhile.
/// A transient write failure (locked, I/O error) is logged and retried with the same batch; the callbacks, and so the
/// acknowledgements, wait: nothing acknowledged is ever lost, and clients are slowed down instead. A batch the store
/// has no room for is split and what does not fit is refused (<see cref="BatchCommitter"/>): the callbacks queued after
/// a refused operation run with <see cref="CommitOutcome.Refused"/>, and the store counts as full (<see cref="IsFull"/>)
/// until something is deleted, so growth is refused at the door rather than in the writer.
/// </summary>
#pragma warning disable CA1001 // _wake is disposed by the writer thread itself when it ends.
internal sealed class StoreWriter
#pragma warning restore CA1001
{
    public const int MaxBatch = 20_000;

    private readonly IStore _store;
    private readonly ILogger _log;
    private readonly BatchCommitter _committer;
    private readonly StoreLimits _limits;
    private readonly ConcurrentQueue<Item> _queue = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private int _signaled;
    private volatile bool _stopping;
    private long _batches;
    private long _operations;
    private long _compacted;
    private long _refused;
    // Sequence number of the last operation queued (see CommitTicket); only ever grows.
    private long _enqueued;
    // Operations and their estimated bytes queued and not yet committed (the write queue's fill, see StoreLimits).
    private long _pendingOperations;
    private long _pendingBytes;
    // Non-null while publishers wait for the queue to drain; completed (and cleared) by the writer below the low mark.
    private TaskCompletionSource? _room;
    // The store's size in bytes after the last commit, and the size at which it counts as full (long.MaxValue: no limit).
    private long _committedSize;
    private readonly long _fullAt = long.MaxValue;
    private bool _fullLogged;
    // Non-zero after the store refused operations for lack of room: the store's size then (1 when it cannot be measured).
    // The store counts as full until a later commit finds it smaller (something was deleted).
    private long _outOfSpaceAt;

    public StoreWriter(IStore store, ILogger log, StoreLimits limits, TimeProvider? time = null)
    {
        _store = store;
        _log = log;
        _limits = limits;
        _committer = new BatchCommitter(store, log, new LogThrottle(time ?? TimeProvider.System, TimeSpan.FromSeconds(10)), () => _stopping);
        if (store is ISizedStore { MaxSizeBytes: > 0 } sized)
        {
            // A tenth of the limit stays free for what was accepted before the store counted as full (the write queue,
            // bounded by StoreLimits), session changes and deletions, so the hard limit itself is not reached.
            _fullAt = sized.MaxSizeBytes - sized.MaxSizeBytes / 10;
            _committedSize = sized.SizeBytes;
        }
        _thread = new Thread(Run) { IsBackground = true, Name = "starling-store-writer" };
        _thread.Start();
    }

    /// <summary>Transactions committed so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Operations committed so far.</summary>
    public long Operations => Interlocked.Read(ref _operations);

    /// <summary>Operations dropped because the delivery they belong to was added and completed in the same batch.</summary>
    public long Compacted => Interlocked.Read(ref _compacted);

    /// <summary>Operations queued and not yet committed.</summary>
    public long PendingOperations => Interlocked.Read(ref _pendingOperations);

    /// <summary>Estimated bytes of the operations queued and not yet committed (<see cref="EstimatedSize"/>).</summary>
    public long PendingBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>
    /// The write queue is past one of its limits (StoreLimits.MaxQueuedOperations / MaxQueuedBytes): a publisher
    /// that queued work stops reading until <see cref="WaitForRoomAsync"/> completes. Two reads; no lock.
    /// </summary>
    public bool IsBackedUp
        => Interlocked.Read(ref _pendingOperations) > _limits.MaxQueuedOperations || Interlocked.Read(ref _pendingBytes) > _limits.MaxQueuedBytes;

    /// <summary>
    /// The store has reached its size limit (measured after each commit), or refused operations for lack of room since
    /// it last shrank: requests that would make it grow are refused until deletions bring it back under it.
    /// </summary>
    public bool IsFull => Volatile.Read(ref _committedSize) + Interlocked.Read(ref _pendingBytes) >= _fullAt || Interlocked.Read(ref _outOfSpaceAt) != 0;

    /// <summary>Operations the store refused for lack of room (not written; their commit callbacks saw Refused).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>The store's size after the last commit (0 for a store without <see cref="ISizedStore"/>).</summary>
    public long SizeBytes => Volatile.Read(ref _committedSize);

    /// <summary>
    /// Completes once the write queue is below half of both its limits (at once when it is not backed up). Allocates
    /// only when the queue is backed up: one task shared by every waiting publisher.
    /// </summary>
    public Task WaitForRoomAsync()
    {
        if (!IsBackedUp)
        {
            return Task.CompletedTask;
        }
        var room = Volatile.Read(ref _room);
        if (room is null)
        {
            var fresh = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            room = Interlocked.CompareExchange(ref _room, fresh, null) ?? fresh;
        }
        // The writer clears _room after lowering the counters; re-reading them after publishing _room means either it
        // saw this task or this check sees the lower counters (no lost wake-up).
        if (!IsBackedUp)
        {
            ReleaseRoom();
        }
        return room.Task;
    }

    /// <summary>
    /// A rough size of an operation in the queue and in the store: payload, topic, a subscription's filter (twice: row and
    /// index) and a fixed row cost.
    /// </summary>
    public static long EstimatedSize(in StoreOperation operation)
        => 128 + (operation.Message is { } m ? m.AccountedSize + m.Topic.Length : 0)
           + (operation.Subscription is { } s ? 2L * (s.Filter.Length + s.ClientId.Length) : 0)
           + (operation.Will is { } w ? w.Payload.Length + w.Topic.Length + (w.Properties?.Length ?? 0) : 0);

    /// <summary>
    /// Queues one operation; the ticket names it, so an acknowledgement that depends on it can wait for its commit.
    /// Callbacks queued after this call run only once it is committed (the queue is FIFO and a batch's callbacks run
    /// after its commit).
    /// </summary>
    public CommitTicket Enqueue(in StoreOperation operation)
    {
        var ticket = new CommitTicket(Interlocked.Increment(ref _enqueued));
        Interlocked.Increment(ref _pendingOperations);
        Interlocked.Add(ref _pendingBytes, EstimatedSize(operation));
        _queue.Enqueue(new Item(operation, null));
        Wake();
        return ticket;
    }

    public void AfterCommit(ICommitCallback callback)
    {
        _queue.Enqueue(new Item(default, callback));
        Wake();
    }

    /// <summary>Writes everything queued, then stops the thread.</summary>
    public Task StopAsync()
    {
        if (!_stopping)
        {
            _stopping = true;
            Wake();
        }
        return _stopped.Task;
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _signaled, 1) == 0)
        {
            try
            {
                _wake.Set();
            }
            catch (ObjectDisposedException)
            {
                // Stopped: nothing more is written (work queued after StopAsync is ignored).
            }
        }
    }

    private void Run()
    {
        var operations = new List<StoreOperation>(1024);
        // Queue position (in this batch) of each operation, kept in step by Compact: a refusal is reported by position.
        var positions = new List<int>(1024);
        // Each callback with the number of operations queued before it in this batch.
        var callbacks = new List<(ICommitCallback Callback, int After)>(256);
        try
        {
            while (true)
            {
                if (_queue.IsEmpty)
                {
                    if (_stopping)
                    {
                        break;
                    }
                    _wake.Wait();
                }
                _wake.Reset();
                Volatile.Write(ref _signaled, 0);
                int taken = 0;
                long takenBytes = 0;
                while (operations.Count < MaxBatch && _queue.TryDequeue(out var item))
                {
                    if (item.Callback is { } callback)
                    {
                        callbacks.Add((callback, taken));
                    }
                    else
                    {
                        operations.Add(item.Operation);
                        positions.Add(taken);
                        taken++;
                        takenBytes += EstimatedSize(item.Operation);
                    }
                }
                Interlocked.Add(ref _compacted, StoreBatchCompaction.Compact(operations, positions));
                var result = new BatchResult(int.MaxValue, 0, 0, false);
                if (operations.Count > 0)
                {
                    result = _committer.Commit(operations, positions);
                    if (result.GaveUp)
                    {
                        break;
                    }
                    Interlocked.Increment(ref _batches);
                    Interlocked.Add(ref _operations, result.Written);
                    Interlocked.Add(ref _refused, result.Refused);
                }
                // Only now do these operations leave the queue's fill: while a write fails (I/O error) they still count,
                // so publishers are held back instead of the queue growing.
                Interlocked.Add(ref _pendingOperations, -taken);
                Interlocked.Add(ref _pendingBytes, -takenBytes);
                AfterBatch(result, operations.Count > 0);
                foreach (var (callback, after) in callbacks)
                {
                    try
                    {
                        // Refused when an operation queued before it in this batch was not written (earlier batches
                        // had their own callbacks).
                        callback.OnCommitted(_store, after > result.FirstRefused ? CommitOutcome.Refused : CommitOutcome.Committed);
                    }
                    catch (Exception ex)
                    {
                        StorageLog.PostCommitStepFailed(_log, ex, ex.Message);
                    }
                }
                operations.Clear();
                positions.Clear();
                callbacks.Clear();
            }
        }
        finally
        {
            // Nothing is written any more: publishers that wait for room must not wait for ever.
            ReleaseRoom();
            _wake.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>
    /// Measures the store against its size limit, notes a refusal for lack of room (the store counts as full until it
    /// shrinks), and wakes publishers once the queue is below its low marks.
    /// </summary>
    private void AfterBatch(BatchResult result, bool wrote)
    {
        var measured = _store is ISizedStore && (_fullAt != long.MaxValue || result.Refused > 0 || Interlocked.Read(ref _outOfSpaceAt) != 0);
        var size = measured ? ((ISizedStore)_store).SizeBytes : 0;
        if (result.Refused > 0)
        {
            Interlocked.Exchange(ref _outOfSpaceAt, Math.Max(1, size));
        }
        else if (wrote && Interlocked.Read(ref _outOfSpaceAt) is var at and not 0 && (!measured || size < at))
        {
            // A batch fully written after a refusal: with a measurable store only once it is smaller than at the
            // refusal (growth is refused at the door meanwhile, so what commits is deletions).
            Interlocked.Exchange(ref _outOfSpaceAt, 0);
        }
        if (_fullAt != long.MaxValue && _store is ISizedStore sized)
        {
            Volatile.Write(ref _committedSize, size);
            // Once per change of state (the refusals themselves are logged, rate-limited, by the publish side).
            var full = size >= _fullAt;
            if (full != _fullLogged)
            {
                _fullLogged = full;
                if (full)
                {
                    StorageLog.StoreFull(_log, _store.Description, size, sized.MaxSizeBytes);
                }
                else
                {
                    StorageLog.StoreNoLongerFull(_log, _store.Description, size, sized.MaxSizeBytes);
                }
            }
        }
        if (Volatile.Read(ref _room) is not null
            && Interlocked.Read(ref _pendingOperations) <= _limits.MaxQueuedOperations / 2
            && Interlocked.Read(ref _pendingBytes) <= _limits.MaxQueuedBytes / 2)
        {
            ReleaseRoom();
        }
    }

    private void ReleaseRoom() => Interlocked.Exchange(ref _room, null)?.TrySetResult();

    private readonly record struct Item(StoreOperation Operation, ICommitCallback? Callback);
}
