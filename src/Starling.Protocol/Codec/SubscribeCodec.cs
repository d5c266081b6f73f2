using System.Buffers;

namespace Starling.Protocol;

/// <summary>SUBSCRIBE (3.8): packet id, 5.0 properties, then one or more topic filter / options pairs.</summary>
internal static class SubscribeCodec
{
    // Topic filter syntax is not checked here: the broker answers a bad filter with a SUBACK failure code for that
    // filter alone [MQTT-3.9.3-2] (0x80 / 0x8F), so the decoder only requires well-formed UTF-8.
    public static SubscribePacket Decode(ref SequenceReader<byte> r, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var packet = new SubscribePacket { PacketId = MqttReader.ReadPacketId(ref r) };
        var v5 = version == ProtocolVersion.V500;
        if (v5)
        {
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.Subscribe, maxUserPropertyBytes);
        }
        while (!r.End)
        {
            var filter = MqttReader.ReadString(ref r);
            var options = MqttReader.ReadByte(ref r);
            var qos = options & 0x03;
            SubscriptionOptions parsed;
            if (v5)
            {
                if ((options & 0xC0) != 0)
                {
                    throw Errors.Malformed("SUBSCRIBE options reserved bits 6-7 are set [MQTT-3.8.3-5]");
                }
                if (qos == 3)
                {
                    throw Errors.Protocol("SUBSCRIBE Maximum QoS 3 (3.8.3.1)");
                }
                var retainHandling = (options >> 4) & 0x03;
                if (retainHandling == 3)
                {
                    throw Errors.Protocol("SUBSCRIBE Retain Handling 3 (3.8.3.1)");
                }
                var noLocal = (options & 0x04) != 0;
                if (noLocal && TopicValidator.StartsWithSharePrefix(filter))
                {
                    throw Errors.Protocol("No Local set on a shared subscription [MQTT-3.8.3-4]");
                }
                parsed = new SubscriptionOptions((QualityOfService)qos, noLocal, (options & 0x08) != 0, (RetainHandling)retainHandling);
            }
            else
            {
                if ((options & 0xFC) != 0 || qos == 3)
                {
                    throw Errors.Malformed("SUBSCRIBE reserved bits set or QoS 3 in the requested QoS byte [MQTT-3.8.3-4]");
                }
                parsed = new SubscriptionOptions((QualityOfService)qos);
            }
            packet.Subscriptions.Add(new TopicSubscription(filter, parsed));
        }
        if (packet.Subscriptions.Count == 0)
        {
            throw Errors.Protocol("SUBSCRIBE without any topic filter [MQTT-3.8.3-3]");
        }
        return packet;
    }

    public static int GetRemainingLength(SubscribePacket p, ProtocolVersion version)
    {
        var size = 2;
        if (version == ProtocolVersion.V500)
        {
            size += PropertiesCodec.GetSize(p.Properties, PropertyContext.Subscribe);
        }
        foreach (var s in p.Subscriptions)
        {
            size += SpanWriter.StringSize(s.TopicFilter) + 1;
        }
        return size;
    }

    public static void WriteBody(ref SpanWriter w, SubscribePacket p, ProtocolVersion version)
    {
        w.WriteUInt16(p.PacketId);
        var v5 = version == ProtocolVersion.V500;
        if (v5)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.Subscribe, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Subscribe));
        }
        foreach (var s in p.Subscriptions)
        {
            w.WriteString(s.TopicFilter);
            var o = s.Options;
            var options = (int)o.QoS;
            if (v5)
            {
                if (o.NoLocal) options |= 0x04;
                if (o.RetainAsPublished) options |= 0x08;
                options |= (int)o.RetainHandling << 4;
            }
            w.WriteByte((byte)options);
        }
    }
}
