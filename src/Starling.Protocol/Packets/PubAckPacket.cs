namespace Starling.Protocol;

/// <summary>
/// PUBACK, PUBREC, PUBREL or PUBCOMP (3.4 to 3.7): the four share one layout (packet id, then for 5.0 an optional
/// reason code and properties), so they share one type; <see cref="Type"/> says which it is.
/// </summary>
public sealed class PubAckPacket : MqttPacket
{
    private readonly PacketType _type;

    public PubAckPacket(PacketType type, ushort packetId, ReasonCode reasonCode = ReasonCode.Success)
    {
        if (type is not (PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp))
        {
            throw new ArgumentOutOfRangeException(nameof(type), type, "PUBACK, PUBREC, PUBREL or PUBCOMP");
        }
        _type = type;
        PacketId = packetId;
        ReasonCode = reasonCode;
    }

    public override PacketType Type => _type;
    public ushort PacketId { get; set; }
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
