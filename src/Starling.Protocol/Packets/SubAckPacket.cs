namespace Starling.Protocol;

/// <summary>SUBACK (3.9): one reason code per filter. Any code >= 0x80 is written as 0x80 for 3.1.1 clients.</summary>
public sealed class SubAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.SubAck;
    public ushort PacketId { get; set; }
    public ReasonCode[] ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}
