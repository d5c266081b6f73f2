using Starling.Protocol;

namespace Starling.Broker;

internal enum OutboundKind : byte
{
    /// <summary>A packet object (CONNACK, SUBACK, ...).</summary>
    Packet,
    /// <summary>An acknowledgement (PUBACK/PUBREC/PUBREL/PUBCOMP) without properties: no object needed.</summary>
    Ack,
    /// <summary>A PUBLISH of a <see cref="Delivery"/>.</summary>
    Publish,
}

/// <summary>One entry of a connection's outbound queue; a struct so acks and publishes cost no allocation.</summary>
internal readonly struct OutboundItem
{
    private OutboundItem(OutboundKind kind, MqttPacket? packet, Delivery delivery, PacketType ackType, ushort packetId, ReasonCode reason, bool dup)
    {
        Kind = kind;
        Packet = packet;
        Delivery = delivery;
        AckType = ackType;
        PacketId = packetId;
        Reason = reason;
        Dup = dup;
    }

    public OutboundKind Kind { get; }
    public MqttPacket? Packet { get; }
    public Delivery Delivery { get; }
    public PacketType AckType { get; }
    public ushort PacketId { get; }
    public ReasonCode Reason { get; }
    public bool Dup { get; }

    public static OutboundItem ForPacket(MqttPacket packet) => new(OutboundKind.Packet, packet, default, default, 0, default, false);

    public static OutboundItem ForAck(PacketType type, ushort packetId, ReasonCode reason) => new(OutboundKind.Ack, null, default, type, packetId, reason, false);

    public static OutboundItem ForPublish(in Delivery delivery, bool dup) => new(OutboundKind.Publish, null, delivery, default, delivery.PacketId, default, dup);
}
