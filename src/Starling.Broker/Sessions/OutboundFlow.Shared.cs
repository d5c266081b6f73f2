using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Shared-group redistribution of <see cref="OutboundFlow"/> (v5 4.8.2): what a member that lost its connection hands
/// back to the group. Guarded by the flow's monitor like the rest of the flow.
/// </summary>
internal sealed partial class OutboundFlow
{
    /// <summary>
    /// A member of a shared subscription lost its connection: hands back the messages it got through a group that
    /// another connected member can take (v5 4.8.2): everything still queued, and QoS 1 messages sent but not
    /// acknowledged. QoS 2 messages already sent stay, since the client may have them (exactly once wins). When the
    /// session is not <paramref name="connected"/> any more, a durable one then moves the rest of its queue out of
    /// memory (it stays in the store).
    /// </summary>
    public List<Delivery>? TakeShared(Session self, bool connected)
    {
        lock (this)
        {
            List<Delivery>? taken = null;
            if (_queue is { Count: > 0 } queue)
            {
                var keep = new Queue<Delivery>(queue.Count);
                while (queue.TryDequeue(out var d))
                {
                    if (d.Group is { } g && g.HasConnectedMemberOtherThan(self))
                    {
                        (taken ??= []).Add(d);
                        _queuedBytes -= d.Message.AccountedSize;
                        Completed(d);
                    }
                    else
                    {
                        keep.Enqueue(d);
                    }
                }
                while (keep.TryDequeue(out var d))
                {
                    queue.Enqueue(d);
                }
            }
            foreach (var (id, d) in _inflight ?? s_noInflight)
            {
                if (d.Group is { } g && d.State == DeliveryState.AwaitingPubAck && g.HasConnectedMemberOtherThan(self))
                {
                    (taken ??= []).Add(d);
                    _inflight!.Remove(id);
                    Completed(d);
                }
            }
            if (!connected)
            {
                SpillToStore();
            }
            return taken;
        }
    }
}
