using System.Buffers;

namespace Starling.Protocol;

/// <summary>CONNACK (3.2): acknowledge flags, then a return code (3.1/3.1.1) or a reason code and properties (5.0).</summary>
internal static class ConnAckCodec
{
    public static ConnAckPacket Decode(ref SequenceReader<byte> r, ProtocolVersion version)
    {
        var flags = MqttReader.ReadByte(ref r);
        // 3.1 has no Session Present: the whole first byte is reserved and ignored. 3.1.1 and 5.0: bits 7-1 reserved, 0.
        if (version != ProtocolVersion.V310 && (flags & 0xFE) != 0)
        {
            throw Errors.Malformed("CONNACK reserved acknowledge flags are set [MQTT-3.2.2-1]");
        }
        var packet = new ConnAckPacket { SessionPresent = version != ProtocolVersion.V310 && (flags & 0x01) != 0 };
        var code = MqttReader.ReadByte(ref r);
        if (version == ProtocolVersion.V500)
        {
            packet.ReasonCode = ReasonCodeRules.IsAllowed(PacketType.ConnAck, (ReasonCode)code)
                ? (ReasonCode)code
                : throw Errors.Malformed($"CONNACK reason code 0x{code:X2} is not defined for CONNACK");
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.ConnAck);
        }
        else
        {
            packet.ReasonCode = ReasonCodeRules.TryFromConnAckReturnCode(code, out var reason)
                ? reason
                : throw Errors.Malformed($"CONNACK return code {code} is reserved");
        }
        MqttReader.EnsureEnd(ref r, PacketType.ConnAck);
        return packet;
    }

    public static int GetRemainingLength(ConnAckPacket p, ProtocolVersion version)
        => version == ProtocolVersion.V500 ? 2 + PropertiesCodec.GetSize(p.Properties, PropertyContext.ConnAck) : 2;

    public static void WriteBody(ref SpanWriter w, ConnAckPacket p, ProtocolVersion version)
    {
        // Session Present does not exist in 3.1, where the byte is reserved.
        w.WriteByte((byte)(p.SessionPresent && version != ProtocolVersion.V310 ? 1 : 0));
        if (version == ProtocolVersion.V500)
        {
            w.WriteByte((byte)p.ReasonCode);
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.ConnAck, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.ConnAck));
        }
        else
        {
            w.WriteByte(ReasonCodeRules.ToConnAckReturnCode(p.ReasonCode));
        }
    }
}
