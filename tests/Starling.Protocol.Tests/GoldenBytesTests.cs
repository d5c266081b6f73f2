using System.Buffers;
using System.Text;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>
/// Hand-computed bytes from the standard for every packet type and version: the encoder must produce exactly these
/// bytes, and decoding them must give a packet that encodes back to the same bytes.
/// </summary>
public class GoldenBytesTests
{
    private static readonly ProtocolVersion V3 = ProtocolVersion.V310;
    private static readonly ProtocolVersion V4 = ProtocolVersion.V311;
    private static readonly ProtocolVersion V5 = ProtocolVersion.V500;

    private static ReadOnlySequence<byte> Bytes(string s) => new(Encoding.UTF8.GetBytes(s));

    internal static readonly Dictionary<string, (Func<MqttPacket> Packet, ProtocolVersion Version, string Hex)> Cases = new()
    {
        ["v4 CONNECT will+username+password"] = (() => new ConnectPacket
        {
            ProtocolVersion = V4,
            ClientId = "c1",
            KeepAliveSeconds = 60,
            CleanSession = true,
            Will = new WillMessage { Topic = "w", Payload = "bye"u8.ToArray(), QoS = QualityOfService.AtLeastOnce, Retain = true },
            Username = "u",
            Password = "p"u8.ToArray(),
        }, V4, "10 1C 00 04 4D 51 54 54 04 EE 00 3C 00 02 63 31 00 01 77 00 03 62 79 65 00 01 75 00 01 70"),
        ["v3 MQIsdp CONNECT"] = (() => new ConnectPacket
        {
            ProtocolName = "MQIsdp",
            ProtocolVersion = V3,
            ClientId = "abc",
            KeepAliveSeconds = 10,
            CleanSession = true,
        }, V3, "10 11 00 06 4D 51 49 73 64 70 03 02 00 0A 00 03 61 62 63"),
        ["v5 CONNECT properties+will properties"] = (() => new ConnectPacket
        {
            ProtocolVersion = V5,
            ClientId = "c",
            KeepAliveSeconds = 30,
            CleanSession = true,
            Properties = new MqttProperties { SessionExpiryInterval = 3600, ReceiveMaximum = 20, UserProperties = [new("k", "v")] },
            Will = new WillMessage { Topic = "t", Payload = "x"u8.ToArray(), Properties = new MqttProperties { WillDelayInterval = 5 } },
            Username = "u",
        }, V5, "10 2C 00 04 4D 51 54 54 05 86 00 1E 0F 11 00 00 0E 10 21 00 14 26 00 01 6B 00 01 76 00 01 63 05 18 00 00 00 05 00 01 74 00 01 78 00 01 75"),
        ["v4 CONNACK session present"] = (() => new ConnAckPacket { SessionPresent = true }, V4, "20 02 01 00"),
        ["v4 CONNACK not authorized"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.NotAuthorized }, V4, "20 02 00 05"),
        ["v4 CONNACK bad credentials"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.BadUserNameOrPassword }, V4, "20 02 00 04"),
        ["v4 CONNACK unsupported version"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.UnsupportedProtocolVersion }, V4, "20 02 00 01"),
        ["v3 CONNACK identifier rejected"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.ClientIdentifierNotValid }, V3, "20 02 00 02"),
        ["v4 CONNACK server unavailable"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.ServerUnavailable }, V4, "20 02 00 03"),
        ["v5 CONNACK properties"] = (() => new ConnAckPacket
        {
            Properties = new MqttProperties { MaximumQoS = 1, AssignedClientIdentifier = "id", TopicAliasMaximum = 10 },
        }, V5, "20 0D 00 00 0A 12 00 02 69 64 22 00 0A 24 01"),
        ["v5 CONNACK unsupported version"] = (() => new ConnAckPacket { ReasonCode = ReasonCode.UnsupportedProtocolVersion }, V5, "20 03 00 84 00"),
        ["v5 CONNACK session present"] = (() => new ConnAckPacket { SessionPresent = true }, V5, "20 03 01 00 00"),
        ["v4 PUBLISH QoS0"] = (() => new PublishPacket { Topic = "a/b", Payload = Bytes("hi") }, V4, "30 07 00 03 61 2F 62 68 69"),
        ["v3 PUBLISH QoS0"] = (() => new PublishPacket { Topic = "a/b", Payload = Bytes("hi") }, V3, "30 07 00 03 61 2F 62 68 69"),
        ["v4 PUBLISH QoS1 retain"] = (() => new PublishPacket
        {
            Topic = "a",
            Payload = Bytes("x"),
            QoS = QualityOfService.AtLeastOnce,
            Retain = true,
            PacketId = 10,
        }, V4, "33 06 00 01 61 00 0A 78"),
        ["v4 PUBLISH QoS2 dup empty payload"] = (() => new PublishPacket
        {
            Topic = "a",
            QoS = QualityOfService.ExactlyOnce,
            Dup = true,
            PacketId = 0x1234,
        }, V4, "3C 05 00 01 61 12 34"),
        ["v5 PUBLISH QoS0 no properties"] = (() => new PublishPacket { Topic = "a", Payload = Bytes("x") }, V5, "30 05 00 01 61 00 78"),
        ["v5 PUBLISH QoS1 properties"] = (() => new PublishPacket
        {
            Topic = "t",
            Payload = Bytes("hi"),
            QoS = QualityOfService.AtLeastOnce,
            PacketId = 1,
            Properties = new MqttProperties { PayloadFormatIndicator = 1, MessageExpiryInterval = 60, TopicAlias = 3, SubscriptionIdentifiers = [1, 200] },
        }, V5, "32 17 00 01 74 00 01 0F 01 01 02 00 00 00 3C 0B 01 0B C8 01 23 00 03 68 69"),
        ["v5 PUBLISH QoS2 topic alias only"] = (() => new PublishPacket
        {
            Topic = "",
            QoS = QualityOfService.ExactlyOnce,
            PacketId = 7,
            Properties = new MqttProperties { TopicAlias = 5 },
        }, V5, "34 08 00 00 00 07 03 23 00 05"),
        ["v4 PUBACK"] = (() => new PubAckPacket(PacketType.PubAck, 5), V4, "40 02 00 05"),
        ["v4 PUBREC"] = (() => new PubAckPacket(PacketType.PubRec, 5), V4, "50 02 00 05"),
        ["v4 PUBREL"] = (() => new PubAckPacket(PacketType.PubRel, 5), V4, "62 02 00 05"),
        ["v4 PUBCOMP"] = (() => new PubAckPacket(PacketType.PubComp, 5), V4, "70 02 00 05"),
        ["v3 PUBREL"] = (() => new PubAckPacket(PacketType.PubRel, 0x0102), V3, "62 02 01 02"),
        ["v5 PUBACK success short form"] = (() => new PubAckPacket(PacketType.PubAck, 5), V5, "40 02 00 05"),
        ["v5 PUBACK reason only"] = (() => new PubAckPacket(PacketType.PubAck, 5, ReasonCode.NoMatchingSubscribers), V5, "40 03 00 05 10"),
        ["v5 PUBREC reason string"] = (() => new PubAckPacket(PacketType.PubRec, 5, ReasonCode.UnspecifiedError)
        {
            Properties = new MqttProperties { ReasonString = "no" },
        }, V5, "50 09 00 05 80 05 1F 00 02 6E 6F"),
        ["v5 PUBREL not found"] = (() => new PubAckPacket(PacketType.PubRel, 5, ReasonCode.PacketIdentifierNotFound), V5, "62 03 00 05 92"),
        ["v5 PUBCOMP"] = (() => new PubAckPacket(PacketType.PubComp, 5), V5, "70 02 00 05"),
        ["v4 SUBSCRIBE two filters"] = (() => new SubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new("a/+", new SubscriptionOptions(QualityOfService.AtLeastOnce)), new("#", new SubscriptionOptions(QualityOfService.ExactlyOnce))],
        }, V4, "82 0C 00 01 00 03 61 2F 2B 01 00 01 23 02"),
        ["v5 SUBSCRIBE options and subscription id"] = (() => new SubscribePacket
        {
            PacketId = 2,
            Properties = new MqttProperties { SubscriptionIdentifiers = [7] },
            Subscriptions = [new("a", new SubscriptionOptions(QualityOfService.AtLeastOnce, NoLocal: true, RetainAsPublished: true, RetainHandling.DoNotSend))],
        }, V5, "82 09 00 02 02 0B 07 00 01 61 2D"),
        ["v4 SUBACK"] = (() => new SubAckPacket { PacketId = 1, ReasonCodes = [ReasonCode.GrantedQoS1, ReasonCode.UnspecifiedError, ReasonCode.Success] }, V4, "90 05 00 01 01 80 00"),
        ["v5 SUBACK"] = (() => new SubAckPacket { PacketId = 1, ReasonCodes = [ReasonCode.GrantedQoS2, ReasonCode.NotAuthorized] }, V5, "90 05 00 01 00 02 87"),
        ["v4 UNSUBSCRIBE"] = (() => new UnsubscribePacket { PacketId = 3, TopicFilters = ["a/b"] }, V4, "A2 07 00 03 00 03 61 2F 62"),
        ["v5 UNSUBSCRIBE"] = (() => new UnsubscribePacket { PacketId = 3, TopicFilters = ["a/b"] }, V5, "A2 08 00 03 00 00 03 61 2F 62"),
        ["v4 UNSUBACK"] = (() => new UnsubAckPacket { PacketId = 3 }, V4, "B0 02 00 03"),
        ["v5 UNSUBACK"] = (() => new UnsubAckPacket { PacketId = 3, ReasonCodes = [ReasonCode.Success, ReasonCode.NoSubscriptionExisted] }, V5, "B0 05 00 03 00 00 11"),
        ["v4 PINGREQ"] = (() => PingReqPacket.Instance, V4, "C0 00"),
        ["v4 PINGRESP"] = (() => PingRespPacket.Instance, V4, "D0 00"),
        ["v5 PINGREQ"] = (() => PingReqPacket.Instance, V5, "C0 00"),
        ["v5 PINGRESP"] = (() => PingRespPacket.Instance, V5, "D0 00"),
        ["v4 DISCONNECT"] = (() => new DisconnectPacket(), V4, "E0 00"),
        ["v5 DISCONNECT normal short form"] = (() => new DisconnectPacket(), V5, "E0 00"),
        ["v5 DISCONNECT reason only"] = (() => new DisconnectPacket { ReasonCode = ReasonCode.SessionTakenOver }, V5, "E0 01 8E"),
        ["v5 DISCONNECT reason string"] = (() => new DisconnectPacket
        {
            ReasonCode = ReasonCode.ServerShuttingDown,
            Properties = new MqttProperties { ReasonString = "bye" },
        }, V5, "E0 08 8B 06 1F 00 03 62 79 65"),
        ["v5 AUTH continue"] = (() => new AuthPacket
        {
            ReasonCode = ReasonCode.ContinueAuthentication,
            Properties = new MqttProperties { AuthenticationMethod = "m", AuthenticationData = [1, 2] },
        }, V5, "F0 0B 18 09 15 00 01 6D 16 00 02 01 02"),
        ["v5 AUTH success short form"] = (() => new AuthPacket(), V5, "F0 00"),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Encoder_writes_the_golden_bytes(string name)
    {
        var (packet, version, hex) = Cases[name];
        Assert.Equal(ToHex(Hex(hex)), ToHex(Encode(packet(), version)));
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Golden_bytes_decode_to_the_same_packet(string name)
    {
        var (packet, version, hex) = Cases[name];
        var expected = packet();
        var decodeVersion = expected is ConnectPacket ? ProtocolVersion.Unknown : version;
        var decoded = Decode(Hex(hex), decodeVersion);
        Assert.Equal(PacketDump.Describe(expected), PacketDump.Describe(decoded));
    }

    [Fact]
    public void Connect_v311_fields_are_decoded()
    {
        var p = Assert.IsType<ConnectPacket>(Decode(Hex(Cases["v4 CONNECT will+username+password"].Hex), ProtocolVersion.Unknown));
        Assert.Equal("MQTT", p.ProtocolName);
        Assert.Equal(ProtocolVersion.V311, p.ProtocolVersion);
        Assert.Equal("c1", p.ClientId);
        Assert.Equal(60, p.KeepAliveSeconds);
        Assert.True(p.CleanSession);
        Assert.NotNull(p.Will);
        Assert.Equal("w", p.Will.Topic);
        Assert.Equal("bye"u8.ToArray(), p.Will.Payload);
        Assert.Equal(QualityOfService.AtLeastOnce, p.Will.QoS);
        Assert.True(p.Will.Retain);
        Assert.Equal("u", p.Username);
        Assert.Equal("p"u8.ToArray(), p.Password);
        Assert.Null(p.Properties);
    }

    [Fact]
    public void Connect_mqisdp_is_version_3_1()
    {
        var p = Assert.IsType<ConnectPacket>(Decode(Hex(Cases["v3 MQIsdp CONNECT"].Hex), ProtocolVersion.Unknown));
        Assert.Equal("MQIsdp", p.ProtocolName);
        Assert.Equal(ProtocolVersion.V310, p.ProtocolVersion);
        Assert.Equal("abc", p.ClientId);
    }

    [Fact]
    public void Connect_v5_properties_are_decoded()
    {
        var p = Assert.IsType<ConnectPacket>(Decode(Hex(Cases["v5 CONNECT properties+will properties"].Hex), ProtocolVersion.Unknown));
        Assert.Equal(ProtocolVersion.V500, p.ProtocolVersion);
        Assert.Equal(3600u, p.Properties!.SessionExpiryInterval);
        Assert.Equal((ushort)20, p.Properties.ReceiveMaximum);
        Assert.Equal([new UserProperty("k", "v")], p.Properties.UserProperties!);
        Assert.Equal(5u, p.Will!.Properties!.WillDelayInterval);
        Assert.Null(p.Password);
    }

    [Fact]
    public void Publish_v5_properties_are_decoded()
    {
        var p = Assert.IsType<PublishPacket>(Decode(Hex(Cases["v5 PUBLISH QoS1 properties"].Hex), ProtocolVersion.V500));
        Assert.Equal("t", p.Topic);
        Assert.Equal(1, p.PacketId);
        Assert.Equal((byte)1, p.Properties!.PayloadFormatIndicator);
        Assert.Equal(60u, p.Properties.MessageExpiryInterval);
        Assert.Equal((ushort)3, p.Properties.TopicAlias);
        Assert.Equal([1u, 200u], p.Properties.SubscriptionIdentifiers!);
        Assert.Equal("hi"u8.ToArray(), p.Payload.ToArray());
    }

    [Fact]
    public void Publish_payload_is_a_slice_of_the_body_not_a_copy()
    {
        var frame = Hex(Cases["v4 PUBLISH QoS0"].Hex);
        var p = Assert.IsType<PublishPacket>(Decode(frame, ProtocolVersion.V311));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(p.Payload.First, out var segment));
        Assert.Same(frame, segment.Array);
        Assert.Equal(frame.Length - 2, segment.Offset);
    }

    [Fact]
    public void Suback_v4_maps_every_failure_to_0x80()
    {
        var bytes = Encode(new SubAckPacket { PacketId = 9, ReasonCodes = [ReasonCode.NotAuthorized, ReasonCode.QuotaExceeded, ReasonCode.GrantedQoS2] }, ProtocolVersion.V311);
        Assert.Equal("900500098080" + "02", ToHex(bytes));
    }

    [Fact]
    public void Unsuback_v4_has_no_payload_even_with_reason_codes()
    {
        var bytes = Encode(new UnsubAckPacket { PacketId = 3, ReasonCodes = [ReasonCode.Success], Properties = new MqttProperties { ReasonString = "x" } }, ProtocolVersion.V311);
        Assert.Equal("B0020003", ToHex(bytes));
    }

    [Fact]
    public void Properties_are_not_written_before_v5()
    {
        var packet = new PubAckPacket(PacketType.PubAck, 1, ReasonCode.NoMatchingSubscribers) { Properties = new MqttProperties { ReasonString = "x" } };
        Assert.Equal("40020001", ToHex(Encode(packet, ProtocolVersion.V311)));
    }

    [Fact]
    public void Connack_v3_never_sets_session_present()
    {
        Assert.Equal("20020000", ToHex(Encode(new ConnAckPacket { SessionPresent = true }, ProtocolVersion.V310)));
    }

    [Fact]
    public void Auth_cannot_be_written_before_v5()
    {
        Assert.Throws<InvalidOperationException>(() => Encode(new AuthPacket(), ProtocolVersion.V311));
        Assert.Throws<InvalidOperationException>(() => PacketEncoder.GetSize(new AuthPacket(), ProtocolVersion.V310));
    }

    [Fact]
    public void Disconnect_with_a_reason_cannot_be_written_before_v5()
    {
        Assert.Throws<InvalidOperationException>(() => Encode(new DisconnectPacket { ReasonCode = ReasonCode.SessionTakenOver }, ProtocolVersion.V311));
    }

    [Fact]
    public void Encoder_drops_properties_the_packet_may_not_carry()
    {
        // Table 2-4: Topic Alias and Will Delay Interval are not CONNACK properties; Maximum QoS is.
        var packet = new ConnAckPacket { Properties = new MqttProperties { TopicAlias = 4, WillDelayInterval = 9, MaximumQoS = 0 } };
        Assert.Equal("2005000002" + "2400", ToHex(Encode(packet, ProtocolVersion.V500)));
    }
}
