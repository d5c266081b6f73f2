using Starling.Protocol;

namespace Starling.Client;

/// <summary>What <see cref="MqttClient.ConnectAsync"/> connects to and the CONNECT packet it sends.</summary>
public sealed class MqttClientOptions
{
    /// <summary>Host name or IP address of the server.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>TCP port of the server.</summary>
    public int Port { get; set; } = 1883;

    /// <summary>Client identifier; empty asks the server to assign one (3.1.1 and 5.0, clean session only).</summary>
    public string ClientId { get; set; } = "";

    /// <summary>3.1 ("MQIsdp"), 3.1.1 or 5.0.</summary>
    public ProtocolVersion ProtocolVersion { get; set; } = ProtocolVersion.V311;

    /// <summary>Clean Session (3.1/3.1.1) or Clean Start (5.0).</summary>
    public bool CleanSession { get; set; } = true;

    /// <summary>Keep-alive in seconds; 0 turns keep-alive (and PINGREQ) off. A v5 server may impose its own (Server Keep Alive).</summary>
    public ushort KeepAliveSeconds { get; set; } = 60;

    public string? Username { get; set; }

    public byte[]? Password { get; set; }

    /// <summary>The will, published by the server if the connection ends without DISCONNECT (v5: or with reason 0x04).</summary>
    public WillMessage? Will { get; set; }

    /// <summary>v5 Session Expiry Interval in seconds (0 or absent: the session ends with the connection; uint.MaxValue: never).</summary>
    public uint? SessionExpiryInterval { get; set; }

    /// <summary>v5 Receive Maximum: inbound QoS 1/2 publishes the server may have unacknowledged toward this client.</summary>
    public ushort? ReceiveMaximum { get; set; }

    /// <summary>
    /// Largest packet this client accepts (also sent to a v5 server as Maximum Packet Size). Absent: 268435460 bytes,
    /// the protocol maximum.
    /// </summary>
    public uint? MaximumPacketSize { get; set; }

    /// <summary>v5 Topic Alias Maximum: topic aliases the server may use toward this client (the client resolves them).</summary>
    public ushort? TopicAliasMaximum { get; set; }

    /// <summary>
    /// Any other v5 CONNECT properties (user properties, request response/problem information, authentication
    /// method...). The typed options above win over the same property set here.
    /// </summary>
    public MqttProperties? ConnectProperties { get; set; }

    /// <summary>Time allowed for the TCP connection and the CONNACK together.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TLS settings; null for plain TCP.</summary>
    public MqttClientTlsOptions? Tls { get; set; }

    /// <summary>Called for every packet sent (<c>outbound</c> true) or received, e.g. for a debug trace. Null: no cost.</summary>
    public Action<MqttPacket, bool>? PacketTrace { get; set; }
}
