namespace Starling.Protocol;

/// <summary>UNSUBACK (3.11). Reason codes are written for 5.0 clients only (3.1.1 UNSUBACK has no payload).</summary>
public sealed class UnsubAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.UnsubAck;
    public ushort PacketId { get; set; }
    public ReasonCode[] ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}
