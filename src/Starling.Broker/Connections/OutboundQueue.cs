using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Starling.Broker;

/// <summary>
/// What one connection still has to write: a control lane (acks, CONNACK, SUBACK, PINGRESP) that always goes first,
/// and a data lane (PUBLISH). Any thread may enqueue; only the connection's writer loop dequeues.
/// QoS 0 publishes are dropped (and counted) past <see cref="_maxData"/>; QoS 1/2 are bounded upstream by the
/// session's inflight window; the control lane is bounded by <see cref="WaitForRoomAsync"/>, which the read loop
/// awaits so that a client that never reads cannot make the broker queue acks without bound.
/// </summary>
internal sealed class OutboundQueue(int maxData)
{
    private const int ControlHighWater = 4096;

    private readonly int _maxData = maxData;
    private readonly ConcurrentQueue<OutboundItem> _control = new();
    private readonly ConcurrentQueue<OutboundItem> _data = new();
    // Capacity 1 and DropWrite: one pending wake-up covers any number of enqueues.
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private int _controlCount;
    private int _dataCount;
    private TaskCompletionSource? _roomWaiter;

    public int DataCount => Volatile.Read(ref _dataCount);

    public void EnqueueControl(in OutboundItem item)
    {
        _control.Enqueue(item);
        Interlocked.Increment(ref _controlCount);
        _wake.Writer.TryWrite(true);
    }

    public void EnqueueData(in OutboundItem item)
    {
        _data.Enqueue(item);
        Interlocked.Increment(ref _dataCount);
        _wake.Writer.TryWrite(true);
    }

    /// <summary>Enqueues a QoS 0 publish unless the data lane is full; false when dropped.</summary>
    public bool TryEnqueueQoS0(in OutboundItem item)
    {
        if (Volatile.Read(ref _dataCount) >= _maxData)
        {
            return false;
        }
        EnqueueData(item);
        return true;
    }

    public bool TryDequeue(out OutboundItem item)
    {
        if (_control.TryDequeue(out item))
        {
            Interlocked.Decrement(ref _controlCount);
            return true;
        }
        if (_data.TryDequeue(out item))
        {
            Interlocked.Decrement(ref _dataCount);
            return true;
        }
        return false;
    }

    /// <summary>Waits for enqueued work; false once completed.</summary>
    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken) => _wake.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Consumes the wake-up signal before draining.</summary>
    public void Acknowledge() => _wake.Reader.TryRead(out _);

    public void Complete() => _wake.Writer.TryComplete();

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
    public void ReleaseWaiters() => Interlocked.Exchange(ref _roomWaiter, null)?.TrySetResult();
}
