using System.Buffers;

namespace Starling.Protocol;

/// <summary>UNSUBACK (3.11): packet id only before 5.0; 5.0 adds properties and one reason code per filter.</summary>
internal static class UnsubAckCodec
{
    public static UnsubAckPacket Decode(ref SequenceReader<byte> r, ProtocolVersion version)
    {
        var packet = new UnsubAckPacket { PacketId = MqttReader.ReadPacketId(ref r) };
        if (version == ProtocolVersion.V500)
        {
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.UnsubAck);
            var count = (int)r.Remaining;
            if (count == 0)
            {
                throw Errors.Protocol("UNSUBACK without any reason code (3.11.3)");
            }
            var codes = new ReasonCode[count];
            for (var i = 0; i < count; i++)
            {
                var code = (ReasonCode)MqttReader.ReadByte(ref r);
                codes[i] = ReasonCodeRules.IsAllowed(PacketType.UnsubAck, code)
                    ? code
                    : throw Errors.Malformed($"UNSUBACK reason code 0x{(byte)code:X2} is not defined for UNSUBACK");
            }
            packet.ReasonCodes = codes;
        }
        MqttReader.EnsureEnd(ref r, PacketType.UnsubAck);
        return packet;
    }

    public static int GetRemainingLength(UnsubAckPacket p, ProtocolVersion version)
        => version == ProtocolVersion.V500 ? 2 + PropertiesCodec.GetSize(p.Properties, PropertyContext.UnsubAck) + p.ReasonCodes.Length : 2;

    public static void WriteBody(ref SpanWriter w, UnsubAckPacket p, ProtocolVersion version)
    {
        w.WriteUInt16(p.PacketId);
        if (version == ProtocolVersion.V500)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.UnsubAck, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.UnsubAck));
            foreach (var code in p.ReasonCodes)
            {
                w.WriteByte((byte)code);
            }
        }
    }
}
