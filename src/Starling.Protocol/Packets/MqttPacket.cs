namespace Starling.Protocol;

/// <summary>A decoded MQTT control packet. Inbound packets are views valid for one read; see each type's notes.</summary>
public abstract class MqttPacket
{
    /// <summary>The control packet type.</summary>
    public abstract PacketType Type { get; }
}
