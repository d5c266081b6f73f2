using System.Threading.Tasks.Sources;
using Starling.Protocol;

namespace Starling.Client;

/// <summary>
/// One outstanding request awaiting its acknowledgement (QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE), keyed by packet id.
/// Reusable: a request whose flow completed normally goes back to a small pool, so QoS 1/2 publishing allocates no
/// Task per message. A request that was cancelled or failed is never reused: the read loop may still see its ack.
/// </summary>
internal sealed class PendingRequest : IValueTaskSource<MqttPacket>
{
    private ManualResetValueTaskSourceCore<MqttPacket> _core = new() { RunContinuationsAsynchronously = true };
    private int _completed;

    /// <summary>PubAck (QoS 1 PUBLISH), PubComp (QoS 2 PUBLISH), SubAck or UnsubAck.</summary>
    public PacketType Expected { get; set; }

    public ValueTask<MqttPacket> AsValueTask() => new(this, _core.Version);

    public bool TrySetResult(MqttPacket packet)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return false;
        }
        _core.SetResult(packet);
        return true;
    }

    public bool TrySetException(Exception exception)
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            return false;
        }
        _core.SetException(exception);
        return true;
    }

    /// <summary>Prepares a completed request for reuse; only after its result was read and nothing else references it.</summary>
    public void Reset()
    {
        _core.Reset();
        Volatile.Write(ref _completed, 0);
    }

    public MqttPacket GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
