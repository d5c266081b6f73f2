using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 to 3.7). 5.0: remaining length 2 means Success without properties, 3 means a
/// reason code without properties, 4 or more a reason code and properties; the encoder uses the shortest form.
/// </summary>
internal static class PubAckCodec
{
    public static PubAckPacket Decode(ref SequenceReader<byte> r, PacketType type, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var view = DecodeView(ref r, type, version, maxUserPropertyBytes);
        return new PubAckPacket(type, view.PacketId, view.ReasonCode) { Properties = view.Properties };
    }

    public static PubAckView DecodeView(ref SequenceReader<byte> r, PacketType type, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var packetId = MqttReader.ReadPacketId(ref r);
        var reason = ReasonCode.Success;
        MqttProperties? properties = null;
        if (version == ProtocolVersion.V500 && !r.End)
        {
            var code = (ReasonCode)MqttReader.ReadByte(ref r);
            reason = ReasonCodeRules.IsAllowed(type, code)
                ? code
                : throw Errors.Malformed($"{type} reason code 0x{(byte)code:X2} is not defined for {type}");
            if (!r.End)
            {
                properties = PropertiesCodec.Read(ref r, PropertyContexts.Of(type), maxUserPropertyBytes);
            }
        }
        MqttReader.EnsureEnd(ref r, type);
        return new PubAckView(type, packetId, reason, properties);
    }

    public static int GetRemainingLength(PubAckPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500)
        {
            return 2;
        }
        var props = PropertiesCodec.GetContentSize(p.Properties, PropertyContexts.Of(p.Type));
        if (props > 0)
        {
            return 3 + VariableByteInteger.GetSize(props) + props;
        }
        return p.ReasonCode == ReasonCode.Success ? 2 : 3;
    }

    public static void WriteBody(ref SpanWriter w, PubAckPacket p, ProtocolVersion version, int remainingLength)
    {
        w.WriteUInt16(p.PacketId);
        if (remainingLength >= 3)
        {
            w.WriteByte((byte)p.ReasonCode);
        }
        if (remainingLength >= 4)
        {
            var context = PropertyContexts.Of(p.Type);
            PropertiesCodec.Write(ref w, p.Properties, context, PropertiesCodec.GetContentSize(p.Properties, context));
        }
    }
}
