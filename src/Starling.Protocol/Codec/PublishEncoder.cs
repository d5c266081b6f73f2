using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// Hot-path PUBLISH encoder: writes from the shared parts of a message (pre-encoded UTF-8 topic, payload) and the
/// per-subscriber parts (QoS, packet id, dup, retain, properties) without building a <see cref="PublishPacket"/>.
/// Allocation-free. Packets up to <see cref="SingleSpanLimit"/> bytes take one GetSpan/Advance; larger ones write the
/// header in one span, then copy the payload in chunks of at most <see cref="ChunkSize"/> bytes.
/// </summary>
public static class PublishEncoder
{
    /// <summary>Largest packet written through a single GetSpan call.</summary>
    public const int SingleSpanLimit = 16 * 1024;

    /// <summary>Largest span requested per payload chunk for larger packets.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>Total encoded size in bytes, fixed header included.</summary>
    public static int GetSize(ProtocolVersion version, int topicUtf8Length, long payloadLength, QualityOfService qos, MqttProperties? properties)
    {
        var remaining = GetRemainingLength(version, topicUtf8Length, payloadLength, qos, properties, out _);
        return 1 + VariableByteInteger.GetSize(remaining) + remaining;
    }

    /// <summary>Writes one PUBLISH. <paramref name="topicUtf8"/> may be empty only for a v5 PUBLISH with a topic alias.</summary>
    public static void Write(IBufferWriter<byte> output, ProtocolVersion version, ReadOnlySpan<byte> topicUtf8, in ReadOnlySequence<byte> payload,
        QualityOfService qos, bool retain, bool dup, ushort packetId, MqttProperties? properties)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (qos == QualityOfService.AtMostOnce)
        {
            if (dup)
            {
                throw new ArgumentException("DUP must be 0 for QoS 0 [MQTT-3.3.1-2]", nameof(dup));
            }
        }
        else if (packetId == 0)
        {
            throw new ArgumentException("QoS 1 and 2 need a non-zero packet identifier [MQTT-2.3.1-1]", nameof(packetId));
        }
        if (topicUtf8.IsEmpty && !(version == ProtocolVersion.V500 && properties?.TopicAlias is not null))
        {
            throw new ArgumentException("an empty topic name needs a v5 Topic Alias", nameof(topicUtf8));
        }

        var remaining = GetRemainingLength(version, topicUtf8.Length, payload.Length, qos, properties, out var propertiesSize);
        var total = 1 + VariableByteInteger.GetSize(remaining) + remaining;
        var payloadLength = (int)payload.Length;
        var headerSize = total - payloadLength;

        var span = output.GetSpan(total <= SingleSpanLimit ? total : headerSize);
        var w = new SpanWriter(span);
        w.WriteByte((byte)(0x30 | (dup ? 0x08 : 0) | ((int)qos << 1) | (retain ? 0x01 : 0)));
        w.WriteVariableByteInteger(remaining);
        w.WriteUInt16((ushort)topicUtf8.Length);
        w.WriteBytes(topicUtf8);
        if (qos != QualityOfService.AtMostOnce)
        {
            w.WriteUInt16(packetId);
        }
        if (version == ProtocolVersion.V500)
        {
            PropertiesCodec.Write(ref w, properties, PropertyContext.Publish, propertiesSize);
        }

        if (total <= SingleSpanLimit)
        {
            payload.CopyTo(span[headerSize..]);
            output.Advance(total);
            return;
        }
        output.Advance(headerSize);
        foreach (var segment in payload)
        {
            var source = segment.Span;
            while (!source.IsEmpty)
            {
                var destination = output.GetSpan(Math.Min(source.Length, ChunkSize));
                var n = Math.Min(destination.Length, source.Length);
                source[..n].CopyTo(destination);
                output.Advance(n);
                source = source[n..];
            }
        }
    }

    private static int GetRemainingLength(ProtocolVersion version, int topicUtf8Length, long payloadLength, QualityOfService qos,
        MqttProperties? properties, out int propertiesSize)
    {
        if (version is not (ProtocolVersion.V310 or ProtocolVersion.V311 or ProtocolVersion.V500))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "protocol version 3, 4 or 5");
        }
        if (qos > QualityOfService.ExactlyOnce)
        {
            throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS 0, 1 or 2");
        }
        if ((uint)topicUtf8Length > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(topicUtf8Length), topicUtf8Length, "a topic name is at most 65,535 bytes");
        }
        long remaining = 2 + topicUtf8Length + (qos == QualityOfService.AtMostOnce ? 0 : 2) + payloadLength;
        propertiesSize = 0;
        if (version == ProtocolVersion.V500)
        {
            propertiesSize = PropertiesCodec.GetContentSize(properties, PropertyContext.Publish);
            remaining += VariableByteInteger.GetSize(propertiesSize) + propertiesSize;
        }
        return remaining is >= 0 and <= FrameScanner.MaxRemainingLength
            ? (int)remaining
            : throw new ArgumentOutOfRangeException(nameof(payloadLength), payloadLength, "PUBLISH larger than the maximum remaining length of 268,435,455");
    }
}
