namespace Starling.Protocol;

/// <summary>AUTH (3.15), 5.0 only: enhanced authentication exchange.</summary>
public sealed class AuthPacket : MqttPacket
{
    public override PacketType Type => PacketType.Auth;
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
