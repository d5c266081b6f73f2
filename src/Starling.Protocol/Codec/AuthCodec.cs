using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// AUTH (3.15), 5.0 only: remaining length 0 means Success without properties. Type 15 is reserved before 5.0: decoding
/// it is MalformedPacket and encoding it throws <see cref="InvalidOperationException"/>.
/// </summary>
internal static class AuthCodec
{
    public static AuthPacket Decode(ref SequenceReader<byte> r, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        if (version != ProtocolVersion.V500)
        {
            throw Errors.Malformed("packet type 15 is reserved before MQTT 5.0");
        }
        var packet = new AuthPacket { ReasonCode = ReasonCode.Success };
        if (!r.End)
        {
            var code = (ReasonCode)MqttReader.ReadByte(ref r);
            packet.ReasonCode = ReasonCodeRules.IsAllowed(PacketType.Auth, code)
                ? code
                : throw Errors.Malformed($"AUTH reason code 0x{(byte)code:X2} is not defined for AUTH");
            if (!r.End)
            {
                packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.Auth, maxUserPropertyBytes);
            }
        }
        MqttReader.EnsureEnd(ref r, PacketType.Auth);
        return packet;
    }

    public static int GetRemainingLength(AuthPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500)
        {
            throw new InvalidOperationException($"AUTH does not exist in {version}");
        }
        var props = PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Auth);
        if (props > 0)
        {
            return 1 + VariableByteInteger.GetSize(props) + props;
        }
        return p.ReasonCode == ReasonCode.Success ? 0 : 1;
    }

    public static void WriteBody(ref SpanWriter w, AuthPacket p, int remainingLength)
    {
        if (remainingLength >= 1)
        {
            w.WriteByte((byte)p.ReasonCode);
        }
        if (remainingLength >= 2)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.Auth, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Auth));
        }
    }
}
