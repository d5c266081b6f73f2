using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// Decodes one complete frame into a packet; throws <see cref="MqttProtocolException"/> on bad input, never another
/// exception type for anything the peer sent. Reason codes used:
/// <list type="bullet">
/// <item>MalformedPacket: bad reserved fixed-header flags [MQTT-2.2.2-2] (an MQTT 3.1 connection may also set DUP
/// on PUBREL, SUBSCRIBE and UNSUBSCRIBE), truncated fields, trailing bytes, bad UTF-8
/// [MQTT-1.5.3-1]/[MQTT-1.5.3-2], invalid topic name/filter syntax, QoS 3, DUP with QoS 0, unknown or misplaced
/// property identifiers, reason/return codes not defined for the packet, non-zero remaining length on PINGREQ/PINGRESP,
/// AUTH before 5.0;</item>
/// <item>ProtocolError: packet identifier 0, SUBSCRIBE/UNSUBSCRIBE without filters, duplicate single-valued property,
/// out-of-range property values, 5.0 subscription option violations, packet other than CONNECT before CONNECT, and the
/// CONNECT cases listed below;</item>
/// <item>UnsupportedProtocolVersion: CONNECT with protocol name "MQTT" or "MQIsdp" and a level other than 4/5 or 3.
/// An unknown protocol name is a ProtocolError. Use <see cref="GetConnectProtocolVersion"/> to learn which CONNACK format
/// a failed CONNECT's client understands.</item>
/// </list>
/// </summary>
public static class PacketDecoder
{
    /// <summary>
    /// Decodes the frame whose fixed header is <paramref name="header"/> and whose variable header and payload are
    /// <paramref name="body"/> (exactly RemainingLength bytes). <paramref name="version"/> is the connection's
    /// negotiated version; <see cref="ProtocolVersion.Unknown"/> before CONNECT (CONNECT carries its own version).
    /// Validates everything the standard makes the receiver check on its own: reserved flags, QoS 3, packet id 0,
    /// UTF-8 well-formedness and U+0000, topic name/filter syntax, property identifiers allowed for the packet and
    /// duplicates. Packets a client may not send (CONNACK, SUBACK, ...) still decode, so the broker decides.
    /// <paramref name="maxUserPropertyBytes"/>: the most bytes the user properties of one property block may take on
    /// the wire; past it decoding stops with 0x97 Quota exceeded (<see cref="MqttProtocolException.UserPropertyBytesExceeded"/>)
    /// before the rest is materialised.
    /// </summary>
    public static MqttPacket Decode(in FrameHeader header, in ReadOnlySequence<byte> body, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var type = CheckFrame(header, body, version);
        var r = new SequenceReader<byte>(body);
        switch (type)
        {
            case PacketType.Connect:
                return ConnectCodec.Decode(ref r, maxUserPropertyBytes);
            case PacketType.ConnAck:
                return ConnAckCodec.Decode(ref r, version);
            case PacketType.Publish:
                return PublishCodec.Decode(header, body, ref r, version, maxUserPropertyBytes);
            case PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp:
                return PubAckCodec.Decode(ref r, type, version, maxUserPropertyBytes);
            case PacketType.Subscribe:
                return SubscribeCodec.Decode(ref r, version, maxUserPropertyBytes);
            case PacketType.SubAck:
                return SubAckCodec.Decode(ref r, version);
            case PacketType.Unsubscribe:
                return UnsubscribeCodec.Decode(ref r, version, maxUserPropertyBytes);
            case PacketType.UnsubAck:
                return UnsubAckCodec.Decode(ref r, version);
            case PacketType.PingReq:
                MqttReader.EnsureEnd(ref r, type);
                return PingReqPacket.Instance;
            case PacketType.PingResp:
                MqttReader.EnsureEnd(ref r, type);
                return PingRespPacket.Instance;
            case PacketType.Disconnect:
                return DisconnectCodec.Decode(ref r, version, maxUserPropertyBytes);
            default:
                return AuthCodec.Decode(ref r, version, maxUserPropertyBytes);
        }
    }

    /// <summary>
    /// <see cref="Decode"/> for a PUBLISH, without a packet object: the same checks, and the topic is
    /// <paramref name="lastTopic"/> itself (no allocation, no re-validation) when the PUBLISH repeats its bytes.
    /// </summary>
    public static PublishView DecodePublish(in FrameHeader header, in ReadOnlySequence<byte> body, ProtocolVersion version, TopicName? lastTopic,
        PublishPropertiesCache? propertiesCache = null, int maxUserPropertyBytes = int.MaxValue)
    {
        if (CheckFrame(header, body, version) != PacketType.Publish)
        {
            throw new ArgumentException($"{header.Type} is not a PUBLISH", nameof(header));
        }
        var r = new SequenceReader<byte>(body);
        return PublishCodec.DecodeView(header, body, ref r, version, lastTopic, propertiesCache, maxUserPropertyBytes);
    }

    /// <summary><see cref="Decode"/> for PUBACK, PUBREC, PUBREL or PUBCOMP, without a packet object: the same checks.</summary>
    public static PubAckView DecodePubAck(in FrameHeader header, in ReadOnlySequence<byte> body, ProtocolVersion version, int maxUserPropertyBytes = int.MaxValue)
    {
        var type = CheckFrame(header, body, version);
        if (type is not (PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp))
        {
            throw new ArgumentException($"{type} is not PUBACK, PUBREC, PUBREL or PUBCOMP", nameof(header));
        }
        var r = new SequenceReader<byte>(body);
        return PubAckCodec.DecodeView(ref r, type, version, maxUserPropertyBytes);
    }

    /// <summary>The checks every packet type shares (arguments, reserved type and flags, CONNECT first); returns the type.</summary>
    private static PacketType CheckFrame(in FrameHeader header, in ReadOnlySequence<byte> body, ProtocolVersion version)
    {
        if (body.Length != header.RemainingLength)
        {
            throw new ArgumentException($"body is {body.Length} bytes but the header says {header.RemainingLength}", nameof(body));
        }
        if (version is not (ProtocolVersion.Unknown or ProtocolVersion.V310 or ProtocolVersion.V311 or ProtocolVersion.V500))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "unknown protocol version");
        }
        var type = header.Type;
        if (type == 0)
        {
            throw Errors.Malformed("packet type 0 is reserved (2.1.2)");
        }
        var expectedFlags = type switch
        {
            PacketType.Publish => header.Flags, // DUP, QoS, RETAIN: checked by the PUBLISH decoder
            PacketType.PubRel or PacketType.Subscribe or PacketType.Unsubscribe => 0x02,
            _ => 0x00,
        };
        if (header.Flags != expectedFlags && !IsMqtt31Retry(header, version))
        {
            throw Errors.Malformed($"{type} with reserved fixed header flags 0x{header.Flags:X} [MQTT-2.2.2-1], [MQTT-2.2.2-2]");
        }
        if (version == ProtocolVersion.Unknown && type != PacketType.Connect)
        {
            throw Errors.Protocol($"{type} before CONNECT [MQTT-3.1.0-1]");
        }
        return type;
    }

    /// <summary>
    /// MQTT 3.1 (section 2.1, DUP flag): PUBREL, SUBSCRIBE and UNSUBSCRIBE have QoS 1 in their fixed header and carry
    /// DUP = 1 when re-sent, so their flags are 0010 or 1010. The 3.1.1 rule that these flags are exactly 0010
    /// [MQTT-2.2.2-1] is newer than 3.1; 3.1.1 and 5.0 connections stay strict. Other values (QoS 0 or 2, RETAIN) are
    /// not what 3.1 specifies and stay malformed.
    /// </summary>
    private static bool IsMqtt31Retry(in FrameHeader header, ProtocolVersion version)
        => version == ProtocolVersion.V310
           && header.Type is PacketType.PubRel or PacketType.Subscribe or PacketType.Unsubscribe
           && header.Flags == 0x0A;

    /// <summary>
    /// The protocol version a CONNECT body asks for, read from its protocol name and level alone: V310 for "MQIsdp"/3,
    /// V311 for "MQTT"/4, V500 for "MQTT"/5, Unknown otherwise (unknown name or level, or too short). Never throws. The
    /// broker uses it after <see cref="Decode"/> threw on a CONNECT to pick the CONNACK format (e.g. 0x81 or 0x82 for a
    /// 5.0 client; nothing, or return code 1 for an unknown level, for older ones).
    /// </summary>
    public static ProtocolVersion GetConnectProtocolVersion(in ReadOnlySequence<byte> body)
    {
        Span<byte> start = stackalloc byte[9]; // 2-byte length + "MQIsdp" + level, the longest form
        var n = (int)Math.Min(start.Length, body.Length);
        body.Slice(0, n).CopyTo(start);
        start = start[..n];
        if (start.Length >= 7 && start[..6].SequenceEqual("\0\u0004MQTT"u8) && start[6] is 4 or 5)
        {
            return (ProtocolVersion)start[6];
        }
        if (start.Length >= 9 && start[..8].SequenceEqual("\0\u0006MQIsdp"u8) && start[8] == 3)
        {
            return ProtocolVersion.V310;
        }
        return ProtocolVersion.Unknown;
    }
}
