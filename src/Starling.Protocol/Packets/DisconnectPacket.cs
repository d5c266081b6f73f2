namespace Starling.Protocol;

/// <summary>DISCONNECT (3.14). 3.1.1 has no reason code; the server only sends DISCONNECT to 5.0 clients.</summary>
public sealed class DisconnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Disconnect;
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
