namespace Starling.Protocol;

/// <summary>CONNACK (3.2). The encoder maps <see cref="ReasonCode"/> to a 3.1.1 return code for older clients.</summary>
public sealed class ConnAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.ConnAck;
    public bool SessionPresent { get; set; }
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
