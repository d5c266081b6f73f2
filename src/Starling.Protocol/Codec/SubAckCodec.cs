using System.Buffers;

namespace Starling.Protocol;

/// <summary>SUBACK (3.9): packet id, 5.0 properties, one return/reason code per filter (3.1.1: 0, 1, 2 or 0x80).</summary>
internal static class SubAckCodec
{
    public static SubAckPacket Decode(ref SequenceReader<byte> r, ProtocolVersion version)
    {
        var packet = new SubAckPacket { PacketId = MqttReader.ReadPacketId(ref r) };
        var v5 = version == ProtocolVersion.V500;
        if (v5)
        {
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.SubAck);
        }
        var count = (int)r.Remaining;
        if (count == 0)
        {
            throw Errors.Protocol("SUBACK without any return code [MQTT-3.9.3-1]");
        }
        var codes = new ReasonCode[count];
        for (var i = 0; i < count; i++)
        {
            var code = (ReasonCode)MqttReader.ReadByte(ref r);
            var ok = v5 ? ReasonCodeRules.IsAllowed(PacketType.SubAck, code) : (byte)code is 0 or 1 or 2 or 0x80;
            codes[i] = ok ? code : throw Errors.Malformed($"SUBACK return code 0x{(byte)code:X2} is reserved [MQTT-3.9.3-2]");
        }
        packet.ReasonCodes = codes;
        return packet;
    }

    public static int GetRemainingLength(SubAckPacket p, ProtocolVersion version)
        => 2 + (version == ProtocolVersion.V500 ? PropertiesCodec.GetSize(p.Properties, PropertyContext.SubAck) : 0) + p.ReasonCodes.Length;

    public static void WriteBody(ref SpanWriter w, SubAckPacket p, ProtocolVersion version)
    {
        w.WriteUInt16(p.PacketId);
        var v5 = version == ProtocolVersion.V500;
        if (v5)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.SubAck, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.SubAck));
        }
        foreach (var code in p.ReasonCodes)
        {
            w.WriteByte(v5 ? (byte)code : ReasonCodeRules.ToSubAckReturnCode(code));
        }
    }
}
