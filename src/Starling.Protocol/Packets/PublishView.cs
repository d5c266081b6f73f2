using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// A decoded PUBLISH without a packet object (<see cref="PacketDecoder.DecodePublish"/>), for a receiver's hot path.
/// A ref struct because <see cref="Payload"/> is a slice of the receive buffer, valid only until the connection loop
/// advances past this packet: it cannot be stored, only read (and copied) during the call.
/// </summary>
public readonly ref struct PublishView
{
    public PublishView(TopicName? topic, QualityOfService qos, bool dup, bool retain, ushort packetId, MqttProperties? properties,
        ReadOnlySequence<byte> payload)
    {
        Topic = topic;
        QoS = qos;
        Dup = dup;
        Retain = retain;
        PacketId = packetId;
        Properties = properties;
        Payload = payload;
    }

    /// <summary>The validated topic name; null in a v5 PUBLISH that uses a topic alias only (empty topic).</summary>
    public TopicName? Topic { get; }
    public QualityOfService QoS { get; }
    public bool Dup { get; }
    public bool Retain { get; }
    /// <summary>Present for QoS 1 and 2 only (never 0 there).</summary>
    public ushort PacketId { get; }
    public MqttProperties? Properties { get; }
    public ReadOnlySequence<byte> Payload { get; }
}

/// <summary>A decoded PUBACK, PUBREC, PUBREL or PUBCOMP without a packet object (<see cref="PacketDecoder.DecodePubAck"/>).</summary>
public readonly struct PubAckView(PacketType type, ushort packetId, ReasonCode reasonCode, MqttProperties? properties)
{
    public PacketType Type { get; } = type;
    public ushort PacketId { get; } = packetId;
    public ReasonCode ReasonCode { get; } = reasonCode;
    /// <summary>Only when the peer sent properties (5.0): the short forms allocate nothing.</summary>
    public MqttProperties? Properties { get; } = properties;
}
