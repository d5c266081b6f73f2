namespace Starling.Broker;

/// <summary>
/// What one connection still has to write: a control lane (acks, CONNACK, SUBACK, PINGRESP) that always goes first,
/// and a data lane (PUBLISH). Any thread may enqueue; only the connection's writer loop dequeues and waits.
/// Bounds: QoS 0 publishes are dropped (and counted) past the data limit; QoS 1/2 are bounded upstream by the
/// session's inflight window; the control lane has a high-water mark that the read loop waits on
/// (<see cref="WaitForRoomAsync"/>), so a client that never reads cannot make the broker queue acks without bound.
/// Memory: an idle connection holds no queue storage at all (queues are created on first use, dropped again after a
/// burst, and dropped by <see cref="Trim"/> once they stayed empty for a heartbeat) and no writer: the writer is a
/// thread-pool work item scheduled by the enqueue that finds it idle, and it ends when it has drained the queue.
/// The base class of <see cref="ConnectionWriter"/>, which is that work item: queue and writer are one object per
/// connection (idle-connection memory), each class with its own job.
/// </summary>
internal abstract class OutboundQueue(int maxData) : IThreadPoolWorkItem
{
    private const int ControlHighWater = 4096;
    // A lane that grew past this during a burst is released once drained, so the connection shrinks back.
    private const int ShrinkAbove = 256;

    private readonly int _maxData = maxData;
    // Guarded by the queue's own monitor (lock (this)): no separate lock object per connection (idle memory).
    private Queue<OutboundItem>? _control;
    private Queue<OutboundItem>? _data;
    private int _controlPeak;
    private int _dataPeak;
    private int _controlCount;
    private int _dataCount;
    private bool _completed;
    // True from the enqueue that scheduled the writer until the writer finds the queue empty (or completed) after a
    // flush: at most one writer runs, and every item enqueued meanwhile is seen by it.
    private bool _writerScheduled;
    // Set when a lane was used since the last Trim: a queue idle for a whole heartbeat period is released.
    private bool _usedSinceTrim;
    // The close path waiting for the writer to finish (see WhenWriterIdle).
    private TaskCompletionSource? _idleWaiter;
    // While the connection's read loop handles a read, its own enqueues (CONNACK, acks, SUBACK) leave the writer to
    // that loop, which runs it once the read is handled (EndDeferring): one thread hop less per answer, and one
    // flush per read. Enqueues from other threads, and from this thread for other connections, still schedule it.
    [ThreadStatic] private static OutboundQueue? t_deferring;
    private bool _deferred;
    private TaskCompletionSource? _roomWaiter;
    // Publishers waiting for this (subscriber's) data lane to drain; see WaitForDataRoomAsync.
    private TaskCompletionSource? _dataRoomWaiter;
    // Since when the writer has waited on a flush the socket did not take (Environment.TickCount64; 0 = not blocked),
    // and when a flush last completed: a writer that only waits for CPU is not blocked; one whose client stopped
    // reading is, and after two seconds without a completed flush it counts as stuck.
    private long _flushBlockedSince;
    private long _lastFlushed = Environment.TickCount64;
    // Set by ReleaseWaiters: the connection is closing, so nobody waits for its lanes any more.
    private bool _closed;
    // Set when a writer stopped on a failed or canceled flush (read after WhenWriterIdle, which orders it).
    private bool _writerFailed;

    /// <summary>A writer stopped because the stream failed: no final packet can be written.</summary>
    protected bool WriterFailed => _writerFailed;

    /// <summary>
    /// Congested but alive: the data lane is past half its limit and the consumer is not stuck. A publisher whose
    /// packets routed into such a queue pauses (bounded) instead of outrunning it into drops: on a small machine many
    /// publishers' read loops otherwise starve one subscriber's writer of CPU (fan-in). A stuck consumer is not waited
    /// for, so it cannot slow every publisher down; its QoS 0 messages are dropped and counted.
    /// </summary>
    public bool IsCongestedButMoving
        => Volatile.Read(ref _dataCount) >= _maxData / 2
           && (Volatile.Read(ref _flushBlockedSince) == 0 || Environment.TickCount64 - Volatile.Read(ref _lastFlushed) < 2000);

    /// <summary>Writer: a flush did not complete at once.</summary>
    public void FlushBlocked() => Volatile.Write(ref _flushBlockedSince, Environment.TickCount64);

    /// <summary>Writer: a flush completed; wakes waiting publishers once the lane is below a quarter of its limit.</summary>
    public void FlushCompleted()
    {
        Volatile.Write(ref _flushBlockedSince, 0);
        Volatile.Write(ref _lastFlushed, Environment.TickCount64);
        if (Volatile.Read(ref _dataCount) < _maxData / 4)
        {
            Interlocked.Exchange(ref _dataRoomWaiter, null)?.TrySetResult();
        }
    }

    /// <summary>Completes when the data lane is below a quarter of its limit (or the connection closes).</summary>
    public Task WaitForDataRoomAsync()
    {
        if (Volatile.Read(ref _dataCount) < _maxData / 4 || Volatile.Read(ref _closed))
        {
            return Task.CompletedTask;
        }
        var waiter = Volatile.Read(ref _dataRoomWaiter);
        if (waiter is null)
        {
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiter = Interlocked.CompareExchange(ref _dataRoomWaiter, created, null) ?? created;
        }
        if (Volatile.Read(ref _dataCount) < _maxData / 4 || Volatile.Read(ref _closed))
        {
            Interlocked.Exchange(ref _dataRoomWaiter, null)?.TrySetResult();
        }
        return waiter.Task;
    }

    /// <summary>Starts the writer loop; called on a thread-pool thread once per scheduling.</summary>
    protected abstract void RunWriter();

    void IThreadPoolWorkItem.Execute() => RunWriter();

    public void EnqueueControl(in OutboundItem item) => Enqueue(item, control: true);

    public void EnqueueData(in OutboundItem item) => Enqueue(item, control: false);

    /// <summary>
    /// Enqueues a QoS 0 publish unless the data lane is full (its limit plus <paramref name="extraRoom"/>, see
    /// <see cref="Session.Deliver"/>); false when dropped.
    /// </summary>
    public bool TryEnqueueQoS0(in OutboundItem item, int extraRoom = 0)
    {
        if (Volatile.Read(ref _dataCount) >= _maxData + extraRoom)
        {
            return false;
        }
        Enqueue(item, control: false);
        return true;
    }

    private void Enqueue(in OutboundItem item, bool control)
    {
        bool schedule;
        lock (this)
        {
            if (_completed)
            {
                return;
            }
            if (control)
            {
                (_control ??= new Queue<OutboundItem>()).Enqueue(item);
                _controlPeak = Math.Max(_controlPeak, ++_controlCount);
            }
            else
            {
                (_data ??= new Queue<OutboundItem>()).Enqueue(item);
                _dataPeak = Math.Max(_dataPeak, ++_dataCount);
            }
            _usedSinceTrim = true;
            schedule = !_writerScheduled;
            _writerScheduled = true;
        }
        if (schedule)
        {
            if (t_deferring == this)
            {
                _deferred = true;
                return;
            }
            // Never inline: an enqueuer may hold a session lock, and the writer does I/O.
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Read loop, before handling a read: see <see cref="t_deferring"/>.</summary>
    public void BeginDeferring() => t_deferring = this;

    /// <summary>
    /// Read loop, after handling a read (always, also when it threw, holding no lock): true when an enqueue left the
    /// writer to the caller, which must then run it, or no writer would ever drain the queue.
    /// </summary>
    public bool EndDeferring()
    {
        t_deferring = null;
        var deferred = _deferred;
        _deferred = false;
        return deferred;
    }

    /// <summary>Writer only: the next item, control lane first.</summary>
    public bool TryDequeue(out OutboundItem item)
    {
        lock (this)
        {
            if (_controlCount > 0)
            {
                item = _control!.Dequeue();
                if (--_controlCount == 0 && _controlPeak > ShrinkAbove)
                {
                    _control = null;
                    _controlPeak = 0;
                }
                return true;
            }
            if (_dataCount > 0)
            {
                item = _data!.Dequeue();
                if (--_dataCount == 0 && _dataPeak > ShrinkAbove)
                {
                    _data = null;
                    _dataPeak = 0;
                }
                return true;
            }
            item = default;
            return false;
        }
    }

    /// <summary>
    /// Writer only, after a flush: true when the writer must stop (nothing queued, or completed, or
    /// <paramref name="failed"/>); it is then no longer scheduled and the next enqueue schedules a new one. False: more
    /// items came in, write another batch.
    /// </summary>
    public bool TryStopWriter(bool failed = false)
    {
        TaskCompletionSource? idle;
        lock (this)
        {
            if (!failed && !_completed && (_controlCount > 0 || _dataCount > 0))
            {
                return false;
            }
            _writerScheduled = false;
            _writerFailed |= failed;
            idle = _idleWaiter;
            _idleWaiter = null;
        }
        idle?.TrySetResult();
        return true;
    }

    /// <summary>Completes once no writer runs (after <see cref="Complete"/> none will start again).</summary>
    public Task WhenWriterIdle()
    {
        lock (this)
        {
            if (!_writerScheduled)
            {
                return Task.CompletedTask;
            }
            return (_idleWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Heartbeat: releases lanes that stayed empty since the previous call, so an idle connection holds none.</summary>
    public void Trim()
    {
        lock (this)
        {
            if (!_usedSinceTrim)
            {
                if (_controlCount == 0)
                {
                    _control = null;
                    _controlPeak = 0;
                }
                if (_dataCount == 0)
                {
                    _data = null;
                    _dataPeak = 0;
                }
            }
            _usedSinceTrim = false;
        }
    }

    /// <summary>Stops the writer after its current batch; later enqueues are ignored and start no writer.</summary>
    public void Complete()
    {
        lock (this)
        {
            _completed = true;
        }
    }

    /// <summary>Called by the writer after a drain: releases a read loop waiting for room.</summary>
    public void SignalRoom()
    {
        if (Volatile.Read(ref _controlCount) < ControlHighWater)
        {
            Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
        }
    }

    /// <summary>Completes at once unless the control lane is past its high-water mark.</summary>
    public ValueTask WaitForRoomAsync()
    {
        if (Volatile.Read(ref _controlCount) < ControlHighWater)
        {
            return default;
        }
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _roomWaiter, waiter);
        if (Volatile.Read(ref _controlCount) < ControlHighWater)
        {
            waiter.TrySetResult();
        }
        return new ValueTask(waiter.Task);
    }

    /// <summary>Releases a waiting read loop when the connection is closing.</summary>
    public void ReleaseWaiters()
    {
        Volatile.Write(ref _closed, true);
        Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
        Interlocked.Exchange(ref _dataRoomWaiter, null)?.TrySetResult();
    }
}
