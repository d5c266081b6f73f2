using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The acknowledgements of <see cref="OutboundFlow"/>'s QoS 1/2 deliveries (PUBACK, PUBREC, PUBCOMP from the client).
/// Each is ignored unless it comes from the bound sink: a connection that was taken over cannot touch the flow.
/// </summary>
internal sealed partial class OutboundFlow
{
    /// <summary>PUBACK from the client: the QoS 1 flow ends [MQTT-4.3.2]. Ignored unless <paramref name="from"/> is bound.</summary>
    public void OnPubAck(IDeliverySink from, ushort packetId)
    {
        lock (this)
        {
            if (ReferenceEquals(_sink, from) && Inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubAck)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
            }
        }
    }

    /// <summary>PUBREC from the client: answer PUBREL (again, for a duplicate PUBREC) [MQTT-4.3.3-1]; a v5 failure code ends the flow.</summary>
    public void OnPubRec(IDeliverySink from, ushort packetId, ReasonCode reason)
    {
        lock (this)
        {
            if (!ReferenceEquals(_sink, from))
            {
                return;
            }
            if (!Inflight.TryGetValue(packetId, out var d) || d.State is not (DeliveryState.AwaitingPubRec or DeliveryState.AwaitingPubComp))
            {
                from.SendAck(PacketType.PubRel, packetId, ReasonCode.PacketIdentifierNotFound);
                return;
            }
            if ((byte)reason >= 0x80)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
                return;
            }
            var wasAwaitingPubRec = d.State != DeliveryState.AwaitingPubComp;
            d.State = DeliveryState.AwaitingPubComp;
            Inflight[packetId] = d;
            if (_journal is { } journal)
            {
                if (wasAwaitingPubRec)
                {
                    journal.UpdateDelivery(d.Sequence, packetId, DeliveryState.AwaitingPubComp);
                }
                // PUBREL tells the client it may forget the packet id: only once "PUBREC received" is durable.
                journal.AfterCommit(new SendAfterCommit(from, d, PacketType.PubRel));
                return;
            }
            from.SendAck(PacketType.PubRel, packetId, ReasonCode.Success);
        }
    }

    /// <summary>PUBCOMP from the client: the QoS 2 flow ends.</summary>
    public void OnPubComp(IDeliverySink from, ushort packetId)
    {
        lock (this)
        {
            if (ReferenceEquals(_sink, from) && Inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubComp)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
            }
        }
    }
}
