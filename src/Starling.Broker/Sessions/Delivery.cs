using Starling.Protocol;

namespace Starling.Broker;

/// <summary>Where an outbound QoS 1/2 delivery stands in its acknowledgement flow.</summary>
internal enum DeliveryState : byte
{
    Queued,
    AwaitingPubAck,
    AwaitingPubRec,
    AwaitingPubComp,
}

/// <summary>
/// One message on its way to one session: the shared <see cref="Message"/> plus the per-subscriber fields. A struct,
/// so queues and the inflight table hold it without an allocation per subscriber.
/// </summary>
internal struct Delivery(Message message, QualityOfService qos, bool retain, uint[]? subscriptionIds, SharedGroup? group = null)
{
    /// <summary>The shared subscription group it came through, so it can go to another member if this one leaves.</summary>
    public SharedGroup? Group = group;
    public Message Message = message;
    public QualityOfService QoS = qos;
    public bool Retain = retain;
    public uint[]? SubscriptionIds = subscriptionIds;
    public ushort PacketId;
    public DeliveryState State;
    /// <summary>Order of acceptance into the session, to re-send inflight messages in order [MQTT-4.6.0-1].</summary>
    public long Sequence;
}
