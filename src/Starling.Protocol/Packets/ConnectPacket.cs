namespace Starling.Protocol;

/// <summary>CONNECT (3.1). Strings and byte arrays are owned copies: CONNECT is rare and its fields outlive the read.</summary>
public sealed class ConnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Connect;
    /// <summary>"MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1.</summary>
    public string ProtocolName { get; set; } = "MQTT";
    public ProtocolVersion ProtocolVersion { get; set; } = ProtocolVersion.V311;
    /// <summary>Clean Session (3.1.1) or Clean Start (5.0).</summary>
    public bool CleanSession { get; set; } = true;
    public ushort KeepAliveSeconds { get; set; }
    public string ClientId { get; set; } = "";
    public string? Username { get; set; }
    public byte[]? Password { get; set; }
    public WillMessage? Will { get; set; }
    public MqttProperties? Properties { get; set; }
}

/// <summary>The will of a CONNECT: published by the server when the connection ends without DISCONNECT.</summary>
public sealed class WillMessage
{
    public string Topic { get; set; } = "";
    public byte[] Payload { get; set; } = [];
    public QualityOfService QoS { get; set; }
    public bool Retain { get; set; }
    /// <summary>Will properties (5.0 only).</summary>
    public MqttProperties? Properties { get; set; }
}
