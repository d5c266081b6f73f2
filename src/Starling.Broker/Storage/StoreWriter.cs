using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Starling.Broker.Storage;

/// <summary>Work that runs on the writer thread once every operation queued before it has been committed.</summary>
internal interface ICommitCallback
{
    void OnCommitted(IStore store);
}

/// <summary>
/// The one writer of a store (group commit). Any thread queues operations and callbacks without blocking; one
/// dedicated thread takes everything queued (up to <see cref="MaxBatch"/> operations), applies it in one transaction,
/// then runs the callbacks that were queued with it (acknowledgements that waited for durability, deferred sends,
/// reads of queued messages). While a transaction commits, new work accumulates for the next one, so the cost of a
/// commit is shared by every publish that arrived meanwhile.
/// A failed write (full disk, I/O error) is logged and retried with the same batch; the callbacks, and so the
/// acknowledgements, wait: nothing acknowledged is ever lost, and clients are slowed down instead.
/// </summary>
#pragma warning disable CA1001 // _wake is disposed by the writer thread itself when it ends.
internal sealed class StoreWriter
#pragma warning restore CA1001
{
    public const int MaxBatch = 20_000;

    private readonly IStore _store;
    private readonly ILogger _log;
    private readonly ConcurrentQueue<Item> _queue = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private int _signaled;
    private volatile bool _stopping;
    private long _batches;
    private long _operations;
    private long _compacted;
    // Sequence number of the last operation queued (see CommitTicket); only ever grows.
    private long _enqueued;

    public StoreWriter(IStore store, ILogger log)
    {
        _store = store;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "starling-store-writer" };
        _thread.Start();
    }

    /// <summary>Transactions committed so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Operations committed so far.</summary>
    public long Operations => Interlocked.Read(ref _operations);

    /// <summary>Operations dropped because the delivery they belong to was added and completed in the same batch.</summary>
    public long Compacted => Interlocked.Read(ref _compacted);

    /// <summary>
    /// Queues one operation; the ticket names it, so an acknowledgement that depends on it can wait for its commit.
    /// Callbacks queued after this call run only once it is committed (the queue is FIFO and a batch's callbacks run
    /// after its commit).
    /// </summary>
    public CommitTicket Enqueue(in StoreOperation operation)
    {
        var ticket = new CommitTicket(Interlocked.Increment(ref _enqueued));
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
        var callbacks = new List<ICommitCallback>(256);
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
                while (operations.Count < MaxBatch && _queue.TryDequeue(out var item))
                {
                    if (item.Callback is { } callback)
                    {
                        callbacks.Add(callback);
                    }
                    else
                    {
                        operations.Add(item.Operation);
                    }
                }
                Compact(operations);
                if (operations.Count > 0 && !Commit(operations))
                {
                    break;
                }
                foreach (var callback in callbacks)
                {
                    try
                    {
                        callback.OnCommitted(_store);
                    }
                    catch (Exception ex)
                    {
                        StorageLog.PostCommitStepFailed(_log, ex, ex.Message);
                    }
                }
                operations.Clear();
                callbacks.Clear();
            }
        }
        finally
        {
            _wake.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>
    /// Drops deliveries that were added and completed within this batch (a subscriber online that acknowledged before
    /// the commit): their add, state changes and removal never reach the store, nor does their message when no other
    /// operation refers to it. What remains has the same effect on the store as the whole batch.
    /// </summary>
    private void Compact(List<StoreOperation> operations)
    {
        Dictionary<(string, long), int>? added = null;
        HashSet<int>? dropped = null;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            switch (op.Kind)
            {
                case StoreOperationKind.AddDelivery:
                    (added ??= [])[(op.ClientId, op.Sequence)] = i;
                    break;
                case StoreOperationKind.UpdateDelivery when added is not null && added.ContainsKey((op.ClientId, op.Sequence)):
                    (dropped ??= []).Add(i);
                    break;
                case StoreOperationKind.RemoveDelivery when added is not null && added.Remove((op.ClientId, op.Sequence), out var at):
                    (dropped ??= []).Add(i);
                    dropped.Add(at);
                    break;
                case StoreOperationKind.DeleteSession when added is not null:
                    // Later operations of a new session with the same id must not match adds of the deleted one.
                    foreach (var key in added.Keys.Where(k => k.Item1 == op.ClientId).ToList())
                    {
                        added.Remove(key);
                    }
                    break;
            }
        }
        if (dropped is null)
        {
            return;
        }
        // Keep updates of adds that were not completed (they were marked before knowing): re-add them.
        if (added is { Count: > 0 })
        {
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == StoreOperationKind.UpdateDelivery && added.TryGetValue((op.ClientId, op.Sequence), out var at) && at < i)
                {
                    dropped.Remove(i);
                }
            }
        }
        var write = 0;
        for (var read = 0; read < operations.Count; read++)
        {
            if (!dropped.Contains(read))
            {
                operations[write++] = operations[read];
            }
        }
        Interlocked.Add(ref _compacted, operations.Count - write);
        operations.RemoveRange(write, operations.Count - write);
    }

    /// <summary>Applies one batch, retrying while the store fails; false when stopping made it give up.</summary>
    private bool Commit(List<StoreOperation> operations)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                _store.Apply(operations);
                Interlocked.Increment(ref _batches);
                Interlocked.Add(ref _operations, operations.Count);
                if (attempt > 1)
                {
                    StorageLog.WriteRecovered(_log, _store.Description, attempt - 1);
                }
                return true;
            }
            catch (Exception ex)
            {
                if (_stopping && attempt >= 3)
                {
                    StorageLog.GivingUpAtShutdown(_log, ex, operations.Count, _store.Description, ex.Message);
                    return false;
                }
                if (attempt == 1 || attempt % 30 == 0)
                {
                    StorageLog.WriteFailed(_log, ex, _store.Description, ex.Message);
                }
                Thread.Sleep(Math.Min(250 * attempt, 3000));
            }
        }
    }

    private readonly record struct Item(StoreOperation Operation, ICommitCallback? Callback);
}
