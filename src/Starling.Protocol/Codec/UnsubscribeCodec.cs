using System.Buffers;

namespace Starling.Protocol;

/// <summary>UNSUBSCRIBE (3.10): packet id, 5.0 properties, one or more topic filters.</summary>
internal static class UnsubscribeCodec
{
    public static UnsubscribePacket Decode(ref SequenceReader<byte> r, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var packet = new UnsubscribePacket { PacketId = MqttReader.ReadPacketId(ref r) };
        if (version == ProtocolVersion.V500)
        {
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.Unsubscribe, maxUserPropertyBytes);
        }
        while (!r.End)
        {
            var filter = MqttReader.ReadString(ref r);
            packet.TopicFilters.Add(filter);
        }
        if (packet.TopicFilters.Count == 0)
        {
            throw Errors.Protocol("UNSUBSCRIBE without any topic filter [MQTT-3.10.3-2]");
        }
        return packet;
    }

    public static int GetRemainingLength(UnsubscribePacket p, ProtocolVersion version)
    {
        var size = 2 + (version == ProtocolVersion.V500 ? PropertiesCodec.GetSize(p.Properties, PropertyContext.Unsubscribe) : 0);
        foreach (var f in p.TopicFilters)
        {
            size += SpanWriter.StringSize(f);
        }
        return size;
    }

    public static void WriteBody(ref SpanWriter w, UnsubscribePacket p, ProtocolVersion version)
    {
        w.WriteUInt16(p.PacketId);
        if (version == ProtocolVersion.V500)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.Unsubscribe, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Unsubscribe));
        }
        foreach (var f in p.TopicFilters)
        {
            w.WriteString(f);
        }
    }
}
