using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>Each frame must be rejected with an <see cref="MqttProtocolException"/> carrying the expected reason code.</summary>
public class MalformedCorpusTests
{
    private const ReasonCode M = ReasonCode.MalformedPacket;
    private const ReasonCode P = ReasonCode.ProtocolError;
    private const ReasonCode U = ReasonCode.UnsupportedProtocolVersion;
    private const ProtocolVersion V0 = ProtocolVersion.Unknown;
    private const ProtocolVersion V3 = ProtocolVersion.V310;
    private const ProtocolVersion V4 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    private static readonly (string Name, ProtocolVersion Version, string Hex, ReasonCode Expected)[] s_corpus =
    [
        // Fixed header [MQTT-2.2.2-1], [MQTT-2.2.2-2]
        ("type 0", V4, "00 00", M),
        ("remaining length 5 bytes", V4, "30 FF FF FF FF 7F", M),
        ("remaining length non-minimal", V4, "30 80 00", M),
        ("CONNECT flags 0001 MQTT-2.2.2-2", V0, "11 0C 00 04 4D 51 54 54 04 02 00 3C 00 00", M),
        ("PUBREL flags 0000 MQTT-3.6.1-1", V4, "60 02 00 01", M),
        ("SUBSCRIBE flags 0000 MQTT-3.8.1-1", V4, "80 06 00 01 00 01 61 00", M),
        ("UNSUBSCRIBE flags 0000 MQTT-3.10.1-1", V4, "A0 05 00 01 00 01 61", M),
        ("PUBREL v4 DUP flags 1010 MQTT-3.6.1-1", V4, "6A 02 00 07", M),
        ("SUBSCRIBE v5 DUP flags 1010", V5, "8A 06 00 01 00 01 61 00", M),
        ("PUBREL v3 flags 0000 (3.1 says QoS 1)", V3, "60 02 00 07", M),
        ("PUBREL v3 RETAIN", V3, "63 02 00 07", M),
        ("UNSUBSCRIBE v3 DUP with QoS 2", V3, "AC 05 00 01 00 01 61", M),
        ("PUBACK v3 DUP", V3, "48 02 00 01", M),
        ("PUBACK flags 0010", V4, "42 02 00 01", M),
        ("PINGREQ flags 0001", V4, "C1 00", M),
        ("DISCONNECT flags 0001", V5, "E1 00", M),
        ("PINGREQ with a body", V4, "C0 01 00", M),
        ("PINGRESP with a body", V4, "D0 01 00", M),
        ("packet before CONNECT MQTT-3.1.0-1", V0, "30 03 00 01 61", P),
        ("PINGREQ before CONNECT", V0, "C0 00", P),
        // PUBLISH
        ("PUBLISH QoS 3 MQTT-3.3.1-4", V4, "36 05 00 01 61 00 01", M),
        ("PUBLISH QoS 0 DUP 1 MQTT-3.3.1-2", V4, "38 03 00 01 61", M),
        ("PUBLISH QoS 1 packet id 0 MQTT-2.3.1-1", V4, "32 05 00 01 61 00 00", P),
        ("PUBLISH QoS 2 packet id 0 v5", V5, "34 06 00 01 61 00 00 00", P),
        ("PUBLISH QoS 1 packet id missing", V4, "32 03 00 01 61", M),
        ("PUBLISH topic with + MQTT-3.3.2-2", V4, "30 05 00 03 61 2F 2B", M),
        ("PUBLISH topic with #", V4, "30 03 00 01 23", M),
        ("PUBLISH empty topic v4 MQTT-4.7.3-1", V4, "30 02 00 00", M),
        ("PUBLISH empty topic v3", V3, "30 02 00 00", M),
        ("PUBLISH empty topic v5 without alias", V5, "30 03 00 00 00", P),
        ("PUBLISH topic truncated", V4, "30 03 00 05 61", M),
        ("PUBLISH topic length truncated", V4, "30 01 00", M),
        ("PUBLISH empty body", V4, "30 00", M),
        ("PUBLISH topic U+0000 MQTT-1.5.3-2", V4, "30 05 00 03 61 00 62", M),
        ("PUBLISH topic invalid UTF-8 MQTT-1.5.3-1", V4, "30 04 00 02 C3 28", M),
        ("PUBLISH topic encoded surrogate MQTT-1.5.3-1", V4, "30 05 00 03 ED A0 80", M),
        ("PUBLISH topic overlong UTF-8", V4, "30 04 00 02 C0 AF", M),
        ("PUBLISH topic above U+10FFFF", V4, "30 06 00 04 F4 90 80 80", M),
        ("PUBLISH topic lone continuation byte", V4, "30 03 00 01 80", M),
        ("PUBLISH v5 properties missing", V5, "30 03 00 01 61", M),
        ("PUBLISH v5 property length beyond body", V5, "30 05 00 01 61 05 01", M),
        ("PUBLISH v5 property length 5 bytes", V5, "30 08 00 01 61 FF FF FF FF 7F", M),
        ("PUBLISH v5 property length non-minimal", V5, "30 05 00 01 61 80 00", M),
        ("PUBLISH v5 duplicate Payload Format Indicator", V5, "30 08 00 01 61 04 01 00 01 01", P),
        ("PUBLISH v5 Payload Format Indicator 2", V5, "30 06 00 01 61 02 01 02", P),
        ("PUBLISH v5 Session Expiry Interval not allowed", V5, "30 09 00 01 61 05 11 00 00 00 01", M),
        ("PUBLISH v5 Will Delay Interval not allowed", V5, "30 09 00 01 61 05 18 00 00 00 01", M),
        ("PUBLISH v5 unknown property 0x7F", V5, "30 06 00 01 61 02 7F 00", M),
        ("PUBLISH v5 unknown property 0x00", V5, "30 06 00 01 61 02 00 00", M),
        ("PUBLISH v5 Topic Alias 0 MQTT-3.3.2-8", V5, "30 07 00 01 61 03 23 00 00", P),
        ("PUBLISH v5 duplicate Topic Alias", V5, "30 0A 00 01 61 06 23 00 01 23 00 02", P),
        ("PUBLISH v5 Subscription Identifier 0", V5, "30 06 00 01 61 02 0B 00", P),
        ("PUBLISH v5 Message Expiry truncated", V5, "30 06 00 01 61 02 02 00", M),
        ("PUBLISH v5 Response Topic with wildcard", V5, "30 08 00 01 61 04 08 00 01 23", M),
        ("PUBLISH v5 Content Type invalid UTF-8", V5, "30 08 00 01 61 04 03 00 01 FF", M),
        ("PUBLISH v5 User Property value missing", V5, "30 09 00 01 61 05 26 00 01 6B 00", M),
        // CONNECT [MQTT-3.1.2-1], [MQTT-3.1.2-2], [MQTT-3.1.2-3]
        ("CONNECT unknown protocol name MQTT-3.1.2-1", V0, "10 0C 00 04 4D 51 54 58 04 02 00 3C 00 00", P),
        ("CONNECT lowercase protocol name", V0, "10 0C 00 04 6D 71 74 74 04 02 00 3C 00 00", P),
        ("CONNECT MQTT level 3 MQTT-3.1.2-2", V0, "10 0C 00 04 4D 51 54 54 03 02 00 3C 00 00", U),
        ("CONNECT MQTT level 6", V0, "10 0C 00 04 4D 51 54 54 06 02 00 3C 00 00", U),
        ("CONNECT MQTT bridge level 0x84", V0, "10 0C 00 04 4D 51 54 54 84 02 00 3C 00 00", U),
        ("CONNECT MQIsdp level 4", V0, "10 0E 00 06 4D 51 49 73 64 70 04 02 00 3C 00 00", U),
        ("CONNECT reserved flag MQTT-3.1.2-3", V0, "10 0C 00 04 4D 51 54 54 04 03 00 3C 00 00", M),
        ("CONNECT will QoS without will flag MQTT-3.1.2-13", V0, "10 0C 00 04 4D 51 54 54 04 0A 00 3C 00 00", M),
        ("CONNECT will retain without will flag MQTT-3.1.2-15", V0, "10 0C 00 04 4D 51 54 54 04 22 00 3C 00 00", M),
        ("CONNECT will QoS 3 MQTT-3.1.2-14", V0, "10 11 00 04 4D 51 54 54 04 1E 00 3C 00 00 00 01 74 00 00", M),
        ("CONNECT password without user name v4 MQTT-3.1.2-22", V0, "10 0F 00 04 4D 51 54 54 04 42 00 3C 00 00 00 01 70", P),
        ("CONNECT password without user name v3", V0, "10 11 00 06 4D 51 49 73 64 70 03 42 00 3C 00 00 00 01 70", P),
        ("CONNECT no client id", V0, "10 0A 00 04 4D 51 54 54 04 02 00 3C", M),
        ("CONNECT no keep alive", V0, "10 08 00 04 4D 51 54 54 04 02", M),
        ("CONNECT empty body", V0, "10 00", M),
        ("CONNECT trailing byte", V0, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 00 FF", M),
        ("CONNECT user name flag without user name", V0, "10 0C 00 04 4D 51 54 54 04 82 00 3C 00 00", M),
        ("CONNECT will flag without will topic", V0, "10 0C 00 04 4D 51 54 54 04 06 00 3C 00 00", M),
        ("CONNECT will topic wildcard", V0, "10 11 00 04 4D 51 54 54 04 06 00 3C 00 00 00 01 23 00 00", M),
        ("CONNECT client id U+0000", V0, "10 0D 00 04 4D 51 54 54 04 02 00 3C 00 01 00", M),
        ("CONNECT v5 missing properties", V0, "10 0C 00 04 4D 51 54 54 05 02 00 3C 00 00", M),
        ("CONNECT v5 Authentication Data without Method", V0, "10 11 00 04 4D 51 54 54 05 02 00 3C 04 16 00 01 01 00 00", P),
        ("CONNECT v5 Receive Maximum 0", V0, "10 10 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 00", P),
        ("CONNECT v5 Maximum Packet Size 0", V0, "10 12 00 04 4D 51 54 54 05 02 00 3C 05 27 00 00 00 00 00 00", P),
        ("CONNECT v5 Request Problem Information 2", V0, "10 0F 00 04 4D 51 54 54 05 02 00 3C 02 17 02 00 00", P),
        ("CONNECT v5 Request Response Information 2", V0, "10 0F 00 04 4D 51 54 54 05 02 00 3C 02 19 02 00 00", P),
        ("CONNECT v5 duplicate Session Expiry", V0, "10 17 00 04 4D 51 54 54 05 02 00 3C 0A 11 00 00 00 01 11 00 00 00 01 00 00", P),
        ("CONNECT v5 Topic Alias not allowed", V0, "10 10 00 04 4D 51 54 54 05 02 00 3C 03 23 00 01 00 00", M),
        ("CONNECT v5 Will Delay in CONNECT properties", V0, "10 12 00 04 4D 51 54 54 05 02 00 3C 05 18 00 00 00 01 00 00", M),
        ("CONNECT v5 Session Expiry in will properties", V0, "10 18 00 04 4D 51 54 54 05 06 00 3C 00 00 00 05 11 00 00 00 01 00 01 74 00 00", M),
        // CONNACK
        ("CONNACK v4 reserved flags MQTT-3.2.2-1", V4, "20 02 02 00", M),
        ("CONNACK v4 return code 6", V4, "20 02 00 06", M),
        ("CONNACK v4 too long", V4, "20 03 00 00 00", M),
        ("CONNACK v5 undefined reason 0x01", V5, "20 03 00 01 00", M),
        ("CONNACK v5 Maximum QoS 2", V5, "20 05 00 00 02 24 02", P),
        ("CONNACK v5 Retain Available 2", V5, "20 05 00 00 02 25 02", P),
        ("CONNACK v5 duplicate Server Keep Alive", V5, "20 09 00 00 06 13 00 0A 13 00 0A", P),
        ("CONNACK v5 two Subscription Identifiers", V5, "20 07 00 00 04 0B 01 0B 02", M),
        // SUBSCRIBE [MQTT-3.8.3-3], [MQTT-3.8.3-4], [MQTT-3.8.3-5]
        ("SUBSCRIBE no filter v4 MQTT-3.8.3-3", V4, "82 02 00 01", P),
        ("SUBSCRIBE no filter v5", V5, "82 03 00 01 00", P),
        ("SUBSCRIBE packet id 0", V4, "82 06 00 00 00 01 61 00", P),
        ("SUBSCRIBE v4 reserved option bits MQTT-3.8.3-4", V4, "82 06 00 01 00 01 61 04", M),
        ("SUBSCRIBE v3 reserved option bits", V3, "82 06 00 01 00 01 61 80", M),
        ("SUBSCRIBE v4 QoS 3", V4, "82 06 00 01 00 01 61 03", M),
        ("SUBSCRIBE v5 option bit 6 MQTT-3.8.3-5", V5, "82 07 00 01 00 00 01 61 40", M),
        ("SUBSCRIBE v5 Retain Handling 3", V5, "82 07 00 01 00 00 01 61 30", P),
        ("SUBSCRIBE v5 QoS 3", V5, "82 07 00 01 00 00 01 61 03", P),
        ("SUBSCRIBE missing options byte", V4, "82 05 00 01 00 01 61", M),
        ("SUBSCRIBE v5 two Subscription Identifiers", V5, "82 0B 00 01 04 0B 01 0B 02 00 01 61 00", P),
        ("SUBSCRIBE v5 Subscription Identifier 0", V5, "82 09 00 01 02 0B 00 00 01 61 00", P),
        ("SUBSCRIBE v5 No Local on shared MQTT-3.8.3-4", V5, "82 10 00 01 00 00 0A 24 73 68 61 72 65 2F 67 2F 61 05", P),
        ("SUBSCRIBE v5 Reason String not allowed", V5, "82 0A 00 01 03 1F 00 00 00 01 61 00", M),
        // UNSUBSCRIBE [MQTT-3.10.3-2]
        ("UNSUBSCRIBE no filter MQTT-3.10.3-2", V4, "A2 02 00 01", P),
        ("UNSUBSCRIBE v5 no filter", V5, "A2 03 00 01 00", P),
        ("UNSUBSCRIBE packet id 0", V4, "A2 05 00 00 00 01 61", P),
        ("UNSUBSCRIBE v5 Subscription Identifier not allowed", V5, "A2 08 00 01 02 0B 01 00 01 61", M),
        // Acks
        ("PUBACK v4 remaining length 3", V4, "40 03 00 01 00", M),
        ("PUBACK remaining length 1", V4, "40 01 00", M),
        ("PUBACK packet id 0", V4, "40 02 00 00", P),
        ("PUBCOMP v5 packet id 0", V5, "70 02 00 00", P),
        ("PUBACK v5 undefined reason 0x05", V5, "40 03 00 01 05", M),
        ("PUBREL v5 reason 0x10 is PUBACK-only", V5, "62 03 00 01 10", M),
        ("PUBACK v5 User Property truncated", V5, "40 06 00 01 00 02 26 00", M),
        ("PUBACK v5 Topic Alias not allowed", V5, "40 07 00 01 00 03 23 00 01", M),
        ("PUBACK v5 trailing byte after properties", V5, "40 05 00 01 00 00 00", M),
        ("SUBACK v4 return code 3", V4, "90 03 00 01 03", M),
        ("SUBACK v4 no return code", V4, "90 02 00 01", P),
        ("SUBACK v5 undefined reason 0x10", V5, "90 04 00 01 00 10", M),
        ("UNSUBACK v4 with payload", V4, "B0 03 00 01 00", M),
        ("UNSUBACK v5 undefined reason 0x01", V5, "B0 04 00 01 00 01", M),
        ("UNSUBACK v5 no reason code", V5, "B0 03 00 01 00", P),
        // DISCONNECT, AUTH
        ("DISCONNECT v4 with a body", V4, "E0 01 00", M),
        ("DISCONNECT v5 undefined reason 0x01", V5, "E0 01 01", M),
        ("DISCONNECT v5 duplicate Session Expiry", V5, "E0 0C 00 0A 11 00 00 00 01 11 00 00 00 02", P),
        ("DISCONNECT v5 trailing byte", V5, "E0 03 00 00 FF", M),
        ("DISCONNECT v5 Topic Alias not allowed", V5, "E0 05 00 03 23 00 01", M),
        ("AUTH before v5", V4, "F0 00", M),
        ("AUTH v5 reason 0x87", V5, "F0 01 87", M),
        ("AUTH v5 Session Expiry not allowed", V5, "F0 07 18 05 11 00 00 00 01", M),
    ];

    public static TheoryData<string> Names => new(s_corpus.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Names))]
    public void Malformed_frame_throws_MqttProtocolException_with_reason(string name)
    {
        var c = s_corpus.Single(x => x.Name == name);
        var frame = Hex(c.Hex);
        var ex = Record.Exception(() => Decode(frame, c.Version));
        var mqtt = Assert.IsType<MqttProtocolException>(ex);
        Assert.Equal(c.Expected, mqtt.ReasonCode);
        // Same verdict when every byte sits in its own segment.
        var split = Assert.IsType<MqttProtocolException>(Record.Exception(() => Decode(OneBytePerSegment(frame), c.Version)));
        Assert.Equal(c.Expected, split.ReasonCode);
        if (c.Version != ProtocolVersion.Unknown && frame[0] >> 4 is >= 3 and <= 7
            && FrameScanner.TryReadHeader(new(frame), int.MaxValue, out _, out _) == System.Buffers.OperationStatus.Done)
        {
            // The broker's object-free decoders give the same verdict, whether or not a topic is cached.
            TopicName? cached = new("a", "a"u8.ToArray());
            var view = Assert.IsType<MqttProtocolException>(Record.Exception(() => DecodeWithView(new(frame), c.Version, ref cached)));
            Assert.Equal(c.Expected, view.ReasonCode);
            cached = null;
            view = Assert.IsType<MqttProtocolException>(Record.Exception(() => DecodeWithView(OneBytePerSegment(frame), c.Version, ref cached)));
            Assert.Equal(c.Expected, view.ReasonCode);
        }
    }

    /// <summary>MQTT 3.1 retries: PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP (and QoS 1) decode on a 3.1 connection.</summary>
    [Theory]
    [InlineData("6A 02 00 07", PacketType.PubRel)]
    [InlineData("8A 06 00 01 00 01 61 01", PacketType.Subscribe)]
    [InlineData("AA 05 00 01 00 01 61", PacketType.Unsubscribe)]
    public void Mqtt31_retry_with_DUP_decodes(string hex, PacketType type)
    {
        var frame = Hex(hex);
        Assert.Equal(type, Decode(frame, ProtocolVersion.V310).Type);
        Assert.Equal(type, Decode(OneBytePerSegment(frame), ProtocolVersion.V310).Type);
    }

    [Fact]
    public void Corpus_is_large_and_names_are_unique()
    {
        Assert.True(s_corpus.Length >= 100);
        Assert.Equal(s_corpus.Length, s_corpus.Select(c => c.Name).Distinct().Count());
    }

    [Fact]
    public void Connect_version_can_be_peeked_after_a_failed_decode()
    {
        // A v5 CONNECT with Receive Maximum 0: Decode throws ProtocolError, the broker still learns the client speaks 5.0.
        var frame = Hex("10 10 00 04 4D 51 54 54 05 02 00 3C 03 21 00 00 00 00");
        var body = new System.Buffers.ReadOnlySequence<byte>(frame, 2, frame.Length - 2);
        Assert.Equal(ProtocolVersion.V500, PacketDecoder.GetConnectProtocolVersion(body));
        Assert.Equal(ProtocolVersion.V310, PacketDecoder.GetConnectProtocolVersion(OneBytePerSegment(Hex("00 06 4D 51 49 73 64 70 03 02"))));
        Assert.Equal(ProtocolVersion.V311, PacketDecoder.GetConnectProtocolVersion(new(Hex("00 04 4D 51 54 54 04"))));
        Assert.Equal(ProtocolVersion.Unknown, PacketDecoder.GetConnectProtocolVersion(new(Hex("00 04 4D 51 54 54 06"))));
        Assert.Equal(ProtocolVersion.Unknown, PacketDecoder.GetConnectProtocolVersion(new(Hex("00 04 4D 51 54"))));
        Assert.Equal(ProtocolVersion.Unknown, PacketDecoder.GetConnectProtocolVersion(default));
    }
}

/// <summary>
/// Badly formed topic filters are not a decode error: the broker answers each with a SUBACK failure code
/// [MQTT-3.9.3-2] while the packet's other filters proceed, so the decoder must hand them over.
/// </summary>
public class TopicFilterPassThroughTests
{
    [Theory]
    [InlineData("82 09 00 01 00 04 61 2F 62 23 00", "a/b#")]
    [InlineData("82 07 00 01 00 02 61 2B 00", "a+")]
    [InlineData("82 08 00 01 00 03 23 2F 61 00", "#/a")]
    [InlineData("82 05 00 01 00 00 00", "")]
    public void SUBSCRIBE_with_bad_filter_decodes_for_the_broker_to_refuse(string hex, string filter)
    {
        var frame = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));
        var header = new FrameHeader(frame[0], frame[1], 2);
        var packet = Assert.IsType<SubscribePacket>(PacketDecoder.Decode(header, new System.Buffers.ReadOnlySequence<byte>(frame, 2, frame.Length - 2), ProtocolVersion.V311));
        Assert.Equal(filter, Assert.Single(packet.Subscriptions).TopicFilter);
        Assert.False(TopicValidator.IsValidTopicFilter(filter));
    }
}
