using System.Buffers;

namespace Starling.Protocol;

/// <summary>PUBLISH (3.3) decoding; encoding is <see cref="PublishEncoder"/>, the hot path.</summary>
internal static class PublishCodec
{
    public static PublishPacket Decode(in FrameHeader header, in ReadOnlySequence<byte> body, ref SequenceReader<byte> r, ProtocolVersion version)
    {
        var flags = header.Flags;
        var qos = (flags >> 1) & 0x03;
        if (qos == 3)
        {
            throw Errors.Malformed("PUBLISH QoS 3 [MQTT-3.3.1-4]");
        }
        var dup = (flags & 0x08) != 0;
        if (dup && qos == 0)
        {
            throw Errors.Malformed("PUBLISH with QoS 0 and DUP 1 [MQTT-3.3.1-2]");
        }
        var topic = MqttReader.ReadString(ref r);
        var packetId = qos > 0 ? MqttReader.ReadPacketId(ref r) : (ushort)0;
        MqttProperties? properties = null;
        if (version == ProtocolVersion.V500)
        {
            properties = PropertiesCodec.Read(ref r, PropertyContext.Publish);
        }
        if (topic.Length == 0)
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
        else if (topic.AsSpan().IndexOfAny('+', '#') >= 0)
        {
            throw Errors.Malformed("PUBLISH topic name contains a wildcard [MQTT-3.3.2-2]");
        }
        return new PublishPacket
        {
            Topic = topic,
            QoS = (QualityOfService)qos,
            Dup = dup,
            Retain = (flags & 0x01) != 0,
            PacketId = packetId,
            Properties = properties,
            Payload = body.Slice(r.Position), // a view of the receive buffer: the broker copies it once
        };
    }
}
