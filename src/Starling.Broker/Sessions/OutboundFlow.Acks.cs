using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The acknowledgements of <see cref="OutboundFlow"/>'s QoS 1/2 deliveries (PUBACK, PUBREC, PUBCOMP from the client).
/// Each is ignored unless it comes from the bound sink: a connection that was taken over cannot touch the flow. Each
/// returns an <see cref="AckResult"/>: an ack of the wrong type for a packet id in flight changes nothing here and is
/// reported as <see cref="AckOutcome.WrongType"/>, for the connection to close [MQTT-4.8.0-1].
/// </summary>
internal sealed partial class OutboundFlow
{
    /// <summary>PUBACK from the client: the QoS 1 flow ends [MQTT-4.3.2]. Ignored unless <paramref name="from"/> is bound.</summary>
    public AckResult OnPubAck(IDeliverySink from, ushort packetId) => EndFlow(from, packetId, DeliveryState.AwaitingPubAck);

    /// <summary>PUBREC from the client: answer PUBREL (again, for a duplicate PUBREC) [MQTT-4.3.3-1]; a v5 failure code ends the flow.</summary>
    public AckResult OnPubRec(IDeliverySink from, ushort packetId, ReasonCode reason)
    {
        lock (this)
        {
            if (!ReferenceEquals(_sink, from))
            {
                return AckResult.Ignored;
            }
            if (!Inflight.TryGetValue(packetId, out var d))
            {
                from.SendAck(PacketType.PubRel, packetId, ReasonCode.PacketIdentifierNotFound);
                return AckResult.Ignored;
            }
            if (d.State == DeliveryState.AwaitingPubAck)
            {
                // A PUBREC for a QoS 1 delivery: the client treats it as QoS 2. Answering PUBREL would go on with a flow
                // that does not exist.
                return AckResult.WrongType(d.State);
            }
            if ((byte)reason >= 0x80)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
                return AckResult.Handled;
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
                return AckResult.Handled;
            }
            from.SendAck(PacketType.PubRel, packetId, ReasonCode.Success);
            return AckResult.Handled;
        }
    }

    /// <summary>PUBCOMP from the client: the QoS 2 flow ends (only once PUBREL was sent, i.e. after PUBREC).</summary>
    public AckResult OnPubComp(IDeliverySink from, ushort packetId) => EndFlow(from, packetId, DeliveryState.AwaitingPubComp);

    /// <summary>The ack that ends a flow (PUBACK for QoS 1, PUBCOMP for QoS 2) when the delivery is in <paramref name="expected"/>.</summary>
    private AckResult EndFlow(IDeliverySink from, ushort packetId, DeliveryState expected)
    {
        lock (this)
        {
            if (!ReferenceEquals(_sink, from) || _inflight is not { } inflight || !inflight.TryGetValue(packetId, out var d))
            {
                return AckResult.Ignored;
            }
            if (d.State != expected)
            {
                return AckResult.WrongType(d.State);
            }
            inflight.Remove(packetId);
            Completed(d);
            d.Message.Release();
            Drain(from);
            return AckResult.Handled;
        }
    }
}
