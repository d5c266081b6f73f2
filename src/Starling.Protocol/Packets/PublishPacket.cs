using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// PUBLISH (3.3). On decode, <see cref="Payload"/> is a slice of the receive buffer, valid only until the connection
/// loop advances past this packet (the buffer-ownership rule): copy it before keeping it.
/// </summary>
public sealed class PublishPacket : MqttPacket
{
    public override PacketType Type => PacketType.Publish;
    /// <summary>The topic name; empty in a v5 PUBLISH that uses a topic alias only.</summary>
    public string Topic { get; set; } = "";
    public ReadOnlySequence<byte> Payload { get; set; }
    public QualityOfService QoS { get; set; }
    public bool Retain { get; set; }
    public bool Dup { get; set; }
    /// <summary>Present for QoS 1 and 2 only (never 0 there).</summary>
    public ushort PacketId { get; set; }
    public MqttProperties? Properties { get; set; }
}
