using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// Hot-path PUBLISH encoder: writes from the shared parts of a message (pre-encoded UTF-8 topic, payload) and the
/// per-subscriber parts (QoS, packet id, dup, retain, properties) without building a <see cref="PublishPacket"/>.
/// </summary>
public static class PublishEncoder
{
    /// <summary>Total encoded size in bytes, fixed header included.</summary>
    public static int GetSize(ProtocolVersion version, int topicUtf8Length, long payloadLength, QualityOfService qos, MqttProperties? properties)
        => throw new NotImplementedException();

    /// <summary>Writes one PUBLISH. <paramref name="topicUtf8"/> may be empty only for a v5 PUBLISH with a topic alias.</summary>
    public static void Write(IBufferWriter<byte> output, ProtocolVersion version, ReadOnlySpan<byte> topicUtf8, in ReadOnlySequence<byte> payload,
        QualityOfService qos, bool retain, bool dup, ushort packetId, MqttProperties? properties)
        => throw new NotImplementedException();
}
