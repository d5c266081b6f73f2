using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// DISCONNECT (3.14). Before 5.0 it is empty. 5.0: remaining length 0 means Normal disconnection (Success) without
/// properties, 1 a reason code without properties. Before 5.0 the encoder writes only the empty form a client sends
/// (Success, no properties); any other reason code throws <see cref="InvalidOperationException"/>, because a 3.1.1
/// server never sends DISCONNECT: it closes the connection.
/// </summary>
internal static class DisconnectCodec
{
    public static DisconnectPacket Decode(ref SequenceReader<byte> r, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var packet = new DisconnectPacket { ReasonCode = ReasonCode.Success };
        if (version == ProtocolVersion.V500 && !r.End)
        {
            var code = (ReasonCode)MqttReader.ReadByte(ref r);
            packet.ReasonCode = ReasonCodeRules.IsAllowed(PacketType.Disconnect, code)
                ? code
                : throw Errors.Malformed($"DISCONNECT reason code 0x{(byte)code:X2} is not defined for DISCONNECT");
            if (!r.End)
            {
                packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.Disconnect, maxUserPropertyBytes);
            }
        }
        MqttReader.EnsureEnd(ref r, PacketType.Disconnect);
        return packet;
    }

    public static int GetRemainingLength(DisconnectPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500)
        {
            return p.ReasonCode == ReasonCode.Success
                ? 0
                : throw new InvalidOperationException($"DISCONNECT with reason {p.ReasonCode} cannot be written for {version}: close the connection instead");
        }
        var props = PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Disconnect);
        if (props > 0)
        {
            return 1 + VariableByteInteger.GetSize(props) + props;
        }
        return p.ReasonCode == ReasonCode.Success ? 0 : 1;
    }

    public static void WriteBody(ref SpanWriter w, DisconnectPacket p, int remainingLength)
    {
        if (remainingLength >= 1)
        {
            w.WriteByte((byte)p.ReasonCode);
        }
        if (remainingLength >= 2)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.Disconnect, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Disconnect));
        }
    }
}
