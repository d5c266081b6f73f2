using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// PUBLISH (3.3) decoding; encoding is <see cref="PublishEncoder"/>, the hot path. Two forms share every check:
/// <see cref="Decode"/> builds a <see cref="PublishPacket"/> (clients, tests), <see cref="DecodeView"/> a
/// <see cref="PublishView"/> that reuses the caller's last <see cref="TopicName"/> (the broker's read loop).
/// </summary>
internal static class PublishCodec
{
    private const int StackCompareLimit = 256;

    public static PublishPacket Decode(in FrameHeader header, in ReadOnlySequence<byte> body, ref SequenceReader<byte> r, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var qos = ReadQoS(header.Flags);
        var topic = MqttReader.ReadString(ref r);
        if (topic.Length > 0)
        {
            CheckNoWildcard(topic.AsSpan().IndexOfAny('+', '#'));
        }
        var packetId = ReadPacketIdAndProperties(ref r, qos, version, topic.Length == 0, out var properties, maxUserPropertyBytes);
        return new PublishPacket
        {
            Topic = topic,
            QoS = qos,
            Dup = (header.Flags & 0x08) != 0,
            Retain = (header.Flags & 0x01) != 0,
            PacketId = packetId,
            Properties = properties,
            Payload = body.Slice(r.Position), // a view of the receive buffer: the broker copies it once
        };
    }

    public static PublishView DecodeView(in FrameHeader header, in ReadOnlySequence<byte> body, scoped ref SequenceReader<byte> r, ProtocolVersion version,
        TopicName? lastTopic, PublishPropertiesCache? propertiesCache, int maxUserPropertyBytes = int.MaxValue)
    {
        var qos = ReadQoS(header.Flags);
        var topic = ReadTopicName(ref r, lastTopic);
        var packetId = ReadPacketIdAndProperties(ref r, qos, version, topic is null, out var properties, maxUserPropertyBytes, propertiesCache);
        return new PublishView(topic, qos, (header.Flags & 0x08) != 0, (header.Flags & 0x01) != 0, packetId, properties, body.Slice(r.Position));
    }

    private static QualityOfService ReadQoS(byte flags)
    {
        var qos = (flags >> 1) & 0x03;
        if (qos == 3)
        {
            throw Errors.Malformed("PUBLISH QoS 3 [MQTT-3.3.1-4]");
        }
        if ((flags & 0x08) != 0 && qos == 0)
        {
            throw Errors.Malformed("PUBLISH with QoS 0 and DUP 1 [MQTT-3.3.1-2]");
        }
        return (QualityOfService)qos;
    }

    /// <summary>
    /// The topic name: null when empty; <paramref name="last"/> itself when the bytes equal its bytes (validated when it
    /// was made, so nothing is checked or allocated again); otherwise validated as a UTF-8 string, checked for
    /// wildcards, and a new <see cref="TopicName"/> owning a copy of the bytes.
    /// </summary>
    private static TopicName? ReadTopicName(ref SequenceReader<byte> r, TopicName? last)
    {
        int length = MqttReader.ReadUInt16(ref r);
        if (length == 0)
        {
            return null;
        }
        if (r.Remaining < length)
        {
            throw Errors.Truncated();
        }
        if (last is not null && last.Utf8.Length == length && IsNext(ref r, last.Utf8))
        {
            r.Advance(length);
            return last;
        }
        var bytes = new byte[length];
        r.TryCopyTo(bytes);
        r.Advance(length);
        var name = MqttReader.DecodeUtf8(bytes);
        // '+' and '#' are ASCII, and UTF-8 never uses ASCII byte values inside a multi-byte sequence.
        CheckNoWildcard(bytes.AsSpan().IndexOfAny((byte)'+', (byte)'#'));
        return new TopicName(name, bytes);
    }

    /// <summary>Whether the next bytes equal <paramref name="expected"/>, also when they span buffer segments.</summary>
    private static bool IsNext(ref SequenceReader<byte> r, byte[] expected)
    {
        var unread = r.UnreadSpan;
        if (unread.Length >= expected.Length)
        {
            return unread[..expected.Length].SequenceEqual(expected);
        }
        // Split over segments (a few times per receive buffer with small publishes): compare a copy on the stack.
        if (expected.Length > StackCompareLimit)
        {
            return false;
        }
        Span<byte> copy = stackalloc byte[StackCompareLimit];
        copy = copy[..expected.Length];
        return r.TryCopyTo(copy) && copy.SequenceEqual(expected);
    }

    /// <summary>
    /// PUBLISH properties through <paramref name="cache"/>: bytes equal to the cached ones give the cached object
    /// (decoded and validated from those same bytes, so nothing is checked or allocated again); other bytes are
    /// decoded and, up to <see cref="PublishPropertiesCache.MaxBytes"/>, become the cached ones.
    /// </summary>
    private static MqttProperties? ReadCachedProperties(ref SequenceReader<byte> r, PublishPropertiesCache cache, int maxUserPropertyBytes)
    {
        var start = r.Consumed;
        var length = MqttReader.ReadVariableByteInteger(ref r);
        if (length == 0)
        {
            return null;
        }
        if (cache.Bytes is { } known && known.Length == length && r.Remaining >= length && IsNext(ref r, known))
        {
            r.Advance(length);
            return cache.Properties;
        }
        var bytesAt = r.Position;
        r.Rewind(r.Consumed - start);
        var properties = PropertiesCodec.Read(ref r, PropertyContext.Publish, maxUserPropertyBytes);
        if (length <= PublishPropertiesCache.MaxBytes)
        {
            cache.Set(r.Sequence.Slice(bytesAt, length).ToArray(), properties);
        }
        return properties;
    }

    private static void CheckNoWildcard(int wildcardAt)
    {
        if (wildcardAt >= 0)
        {
            throw Errors.Malformed("PUBLISH topic name contains a wildcard [MQTT-3.3.2-2]");
        }
    }

    private static ushort ReadPacketIdAndProperties(ref SequenceReader<byte> r, QualityOfService qos, ProtocolVersion version, bool emptyTopic,
        out MqttProperties? properties, int maxUserPropertyBytes, PublishPropertiesCache? cache = null)
    {
        var packetId = qos > 0 ? MqttReader.ReadPacketId(ref r) : (ushort)0;
        properties = version != ProtocolVersion.V500 ? null
            : cache is null ? PropertiesCodec.Read(ref r, PropertyContext.Publish, maxUserPropertyBytes)
            : ReadCachedProperties(ref r, cache, maxUserPropertyBytes);
        if (emptyTopic)
        {
            if (version != ProtocolVersion.V500)
            {
                throw Errors.Malformed("PUBLISH with an empty topic name [MQTT-4.7.3-1]");
            }
            if (properties?.TopicAlias is null)
            {
                throw Errors.Protocol("PUBLISH with an empty topic name and no Topic Alias (3.3.2.1)");
            }
        }
        return packetId;
    }
}
