using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// CONNECT (3.1). Errors, all as <see cref="MqttProtocolException"/>:
/// <list type="bullet">
/// <item>unknown protocol name: ProtocolError; the server may close without CONNACK [MQTT-3.1.2-1];</item>
/// <item>known name ("MQTT", "MQIsdp") with a level it does not go with (MQTT needs 4 or 5, MQIsdp needs 3):
/// UnsupportedProtocolVersion; the server replies CONNACK 0x01 (3.1.1) / 0x84 (5.0) then closes [MQTT-3.1.2-2];</item>
/// <item>reserved flag set [MQTT-3.1.2-3], Will QoS 3, Will QoS or Will Retain without Will Flag [MQTT-3.1.2-11],
/// [MQTT-3.1.2-13], [MQTT-3.1.2-15], bad UTF-8, invalid Will Topic, truncation or trailing bytes: MalformedPacket;</item>
/// <item>Password Flag without User Name Flag before 5.0 [MQTT-3.1.2-22], Authentication Data without Authentication
/// Method, duplicate or out-of-range property: ProtocolError.</item>
/// </list>
/// </summary>
internal static class ConnectCodec
{
    private const byte FlagReserved = 0x01;
    private const byte FlagCleanSession = 0x02;
    private const byte FlagWill = 0x04;
    private const byte FlagWillRetain = 0x20;
    private const byte FlagPassword = 0x40;
    private const byte FlagUserName = 0x80;

    public const string MqttName = "MQTT";
    public const string MqIsdpName = "MQIsdp";

    public static ConnectPacket Decode(ref SequenceReader<byte> r, int maxUserPropertyBytes = int.MaxValue)
    {
        var name = MqttReader.ReadString(ref r);
        var level = MqttReader.ReadByte(ref r);
        var version = CheckNameAndLevel(name, level);
        var flags = MqttReader.ReadByte(ref r);
        if ((flags & FlagReserved) != 0)
        {
            throw Errors.Malformed("CONNECT reserved flag is set [MQTT-3.1.2-3]");
        }
        var will = (flags & FlagWill) != 0;
        var willQoS = (flags >> 3) & 0x03;
        var willRetain = (flags & FlagWillRetain) != 0;
        if (willQoS == 3)
        {
            throw Errors.Malformed("CONNECT Will QoS 3 [MQTT-3.1.2-14]");
        }
        if (!will && (willQoS != 0 || willRetain))
        {
            throw Errors.Malformed("CONNECT Will QoS or Will Retain set without the Will Flag [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]");
        }
        var hasPassword = (flags & FlagPassword) != 0;
        var hasUserName = (flags & FlagUserName) != 0;
        if (hasPassword && !hasUserName && version < ProtocolVersion.V500)
        {
            throw Errors.Protocol("CONNECT Password Flag without User Name Flag [MQTT-3.1.2-22]");
        }

        var packet = new ConnectPacket
        {
            ProtocolName = name,
            ProtocolVersion = version,
            CleanSession = (flags & FlagCleanSession) != 0,
            KeepAliveSeconds = MqttReader.ReadUInt16(ref r),
        };
        if (version == ProtocolVersion.V500)
        {
            packet.Properties = PropertiesCodec.Read(ref r, PropertyContext.Connect, maxUserPropertyBytes);
            if (packet.Properties is { AuthenticationData: not null, AuthenticationMethod: null })
            {
                throw Errors.Protocol("Authentication Data without Authentication Method (3.1.2.11.10)");
            }
        }
        packet.ClientId = MqttReader.ReadString(ref r);
        if (will)
        {
            var willMessage = new WillMessage { QoS = (QualityOfService)willQoS, Retain = willRetain };
            if (version == ProtocolVersion.V500)
            {
                willMessage.Properties = PropertiesCodec.Read(ref r, PropertyContext.Will, maxUserPropertyBytes);
            }
            willMessage.Topic = MqttReader.ReadString(ref r);
            if (!TopicValidator.IsValidTopicName(willMessage.Topic))
            {
                throw Errors.Malformed("CONNECT Will Topic is not a valid topic name [MQTT-3.1.3-11]");
            }
            willMessage.Payload = MqttReader.ReadBinary(ref r);
            packet.Will = willMessage;
        }
        if (hasUserName)
        {
            packet.Username = MqttReader.ReadString(ref r);
        }
        if (hasPassword)
        {
            packet.Password = MqttReader.ReadBinary(ref r);
        }
        MqttReader.EnsureEnd(ref r, PacketType.Connect);
        return packet;
    }

    /// <summary>The version a protocol name and level stand for, or the exception of the class summary.</summary>
    public static ProtocolVersion CheckNameAndLevel(string name, byte level) => name switch
    {
        MqttName when level is 4 or 5 => (ProtocolVersion)level,
        MqIsdpName when level == 3 => ProtocolVersion.V310,
        MqttName or MqIsdpName => throw new MqttProtocolException(ReasonCode.UnsupportedProtocolVersion,
            $"unsupported protocol level {level} for protocol name {name} [MQTT-3.1.2-2]"),
        _ => throw Errors.Protocol("unknown protocol name [MQTT-3.1.2-1]"),
    };

    /// <summary>The version the CONNECT is written for: the connection's version when known, else the packet's.</summary>
    private static ProtocolVersion Effective(ConnectPacket p, ProtocolVersion version)
    {
        var v = version == ProtocolVersion.Unknown ? p.ProtocolVersion : version;
        return v is ProtocolVersion.V310 or ProtocolVersion.V311 or ProtocolVersion.V500
            ? v
            : throw new ArgumentOutOfRangeException(nameof(version), v, "CONNECT needs protocol version 3, 4 or 5");
    }

    public static int GetRemainingLength(ConnectPacket p, ProtocolVersion version)
    {
        version = Effective(p, version);
        var size = (version == ProtocolVersion.V310 ? 2 + MqIsdpName.Length : 2 + MqttName.Length) + 1 + 1 + 2;
        if (version == ProtocolVersion.V500)
        {
            size += PropertiesCodec.GetSize(p.Properties, PropertyContext.Connect);
        }
        size += SpanWriter.StringSize(p.ClientId);
        if (p.Will is { } will)
        {
            if (version == ProtocolVersion.V500)
            {
                size += PropertiesCodec.GetSize(will.Properties, PropertyContext.Will);
            }
            size += SpanWriter.StringSize(will.Topic) + SpanWriter.BinarySize(will.Payload.Length);
        }
        if (p.Username is not null)
        {
            size += SpanWriter.StringSize(p.Username);
        }
        if (p.Password is not null)
        {
            size += SpanWriter.BinarySize(p.Password.Length);
        }
        return size;
    }

    public static void WriteBody(ref SpanWriter w, ConnectPacket p, ProtocolVersion version)
    {
        version = Effective(p, version);
        w.WriteString(version == ProtocolVersion.V310 ? MqIsdpName : MqttName);
        w.WriteByte((byte)version);
        var flags = 0;
        if (p.CleanSession) flags |= FlagCleanSession;
        if (p.Will is { } w0)
        {
            flags |= FlagWill | ((int)w0.QoS << 3);
            if (w0.Retain) flags |= FlagWillRetain;
        }
        if (p.Password is not null) flags |= FlagPassword;
        if (p.Username is not null) flags |= FlagUserName;
        w.WriteByte((byte)flags);
        w.WriteUInt16(p.KeepAliveSeconds);
        if (version == ProtocolVersion.V500)
        {
            PropertiesCodec.Write(ref w, p.Properties, PropertyContext.Connect, PropertiesCodec.GetContentSize(p.Properties, PropertyContext.Connect));
        }
        w.WriteString(p.ClientId);
        if (p.Will is { } will)
        {
            if (version == ProtocolVersion.V500)
            {
                PropertiesCodec.Write(ref w, will.Properties, PropertyContext.Will, PropertiesCodec.GetContentSize(will.Properties, PropertyContext.Will));
            }
            w.WriteString(will.Topic);
            w.WriteBinary(will.Payload);
        }
        if (p.Username is not null)
        {
            w.WriteString(p.Username);
        }
        if (p.Password is not null)
        {
            w.WriteBinary(p.Password);
        }
    }
}
