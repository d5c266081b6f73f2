using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

public class PropertiesTests
{
    [Fact]
    public void User_properties_repeat_and_keep_their_order()
    {
        var packet = new PubAckPacket(PacketType.PubAck, 1)
        {
            Properties = new MqttProperties { UserProperties = [new("b", "2"), new("a", "1"), new("b", "2"), new("b", "3")] },
        };
        var decoded = Assert.IsType<PubAckPacket>(Decode(Encode(packet, ProtocolVersion.V500), ProtocolVersion.V500));
        Assert.Equal(packet.Properties.UserProperties, decoded.Properties!.UserProperties!);
    }

    [Fact]
    public void Subscription_identifier_may_repeat_on_publish_only()
    {
        // PUBLISH: two Subscription Identifiers are fine (one per matching subscription).
        var publish = Assert.IsType<PublishPacket>(Decode(Hex("30 08 00 01 61 04 0B 01 0B 02"), ProtocolVersion.V500));
        Assert.Equal([1u, 2u], publish.Properties!.SubscriptionIdentifiers!);
        // SUBSCRIBE: a second one is a protocol error.
        var ex = Assert.Throws<MqttProtocolException>(() => Decode(Hex("82 0B 00 01 04 0B 01 0B 02 00 01 61 00"), ProtocolVersion.V500));
        Assert.Equal(ReasonCode.ProtocolError, ex.ReasonCode);
        // And the encoder refuses to write two on a SUBSCRIBE.
        var subscribe = new SubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new("a", default)],
            Properties = new MqttProperties { SubscriptionIdentifiers = [1, 2] },
        };
        Assert.Throws<ArgumentException>(() => Encode(subscribe, ProtocolVersion.V500));
    }

    [Fact]
    public void Empty_property_length_decodes_to_null()
    {
        var p = Assert.IsType<PublishPacket>(Decode(Hex("30 04 00 01 61 00"), ProtocolVersion.V500));
        Assert.Null(p.Properties);
    }

    [Fact]
    public void Multi_byte_subscription_identifier_is_a_variable_byte_integer()
    {
        var p = Assert.IsType<PublishPacket>(Decode(Hex("30 0A 00 01 61 05 0B FF FF FF 7F 78"), ProtocolVersion.V500));
        Assert.Equal([268_435_455u], p.Properties!.SubscriptionIdentifiers!);
        Assert.Equal("x"u8.ToArray(), p.Payload.ToArray());
    }

    [Fact]
    public void Every_table_2_4_property_survives_a_round_trip_on_its_packets()
    {
        var connack = new ConnAckPacket
        {
            Properties = new MqttProperties
            {
                SessionExpiryInterval = 1,
                AssignedClientIdentifier = "a",
                ServerKeepAlive = 2,
                AuthenticationMethod = "m",
                AuthenticationData = [1],
                ResponseInformation = "ri",
                ServerReference = "sr",
                ReasonString = "rs",
                ReceiveMaximum = 3,
                TopicAliasMaximum = 4,
                MaximumQoS = 0,
                RetainAvailable = 1,
                UserProperties = [new("u", "v")],
                MaximumPacketSize = 5,
                WildcardSubscriptionAvailable = 0,
                SubscriptionIdentifierAvailable = 1,
                SharedSubscriptionAvailable = 0,
            },
        };
        var decoded = Decode(Encode(connack, ProtocolVersion.V500), ProtocolVersion.V500);
        Assert.Equal(PacketDump.Describe(connack), PacketDump.Describe(decoded));
        // 17 properties: 1 + 4 bytes for the integer ones etc. Spot-check the length prefix: all were written.
        var bytes = Encode(connack, ProtocolVersion.V500);
        Assert.Equal(bytes.Length, PacketEncoder.GetSize(connack, ProtocolVersion.V500));
        Assert.True(bytes.Length > 60);
    }

    [Fact]
    public void Properties_object_is_filtered_per_packet_when_encoding()
    {
        // A Will's properties reused on a PUBLISH: Will Delay Interval must not leak into the PUBLISH.
        var will = new MqttProperties { WillDelayInterval = 5, ContentType = "t" };
        var writer = new ArrayBufferWriter<byte>();
        PublishEncoder.Write(writer, ProtocolVersion.V500, "a"u8, ReadOnlySequence<byte>.Empty, QualityOfService.AtMostOnce, false, false, 0, will);
        var p = Assert.IsType<PublishPacket>(Decode(writer.WrittenSpan.ToArray(), ProtocolVersion.V500));
        Assert.Equal("t", p.Properties!.ContentType);
        Assert.Null(p.Properties.WillDelayInterval);
    }

    [Theory]
    [InlineData(ReasonCode.Success, 0)]
    [InlineData(ReasonCode.UnsupportedProtocolVersion, 1)]
    [InlineData(ReasonCode.ClientIdentifierNotValid, 2)]
    [InlineData(ReasonCode.ServerUnavailable, 3)]
    [InlineData(ReasonCode.ServerBusy, 3)]
    [InlineData(ReasonCode.UnspecifiedError, 3)]
    [InlineData(ReasonCode.ImplementationSpecificError, 3)]
    [InlineData(ReasonCode.ConnectionRateExceeded, 3)]
    [InlineData(ReasonCode.QuotaExceeded, 3)]
    [InlineData(ReasonCode.UseAnotherServer, 3)]
    [InlineData(ReasonCode.BadUserNameOrPassword, 4)]
    [InlineData(ReasonCode.NotAuthorized, 5)]
    [InlineData(ReasonCode.Banned, 5)]
    [InlineData(ReasonCode.BadAuthenticationMethod, 5)]
    [InlineData(ReasonCode.MalformedPacket, 5)]
    [InlineData(ReasonCode.PacketTooLarge, 5)]
    public void Connack_return_code_table_for_3_1_1(ReasonCode code, byte expected)
    {
        Assert.Equal(expected, ReasonCodeRules.ToConnAckReturnCode(code));
        Assert.Equal($"2002 00{expected:X2}".Replace(" ", "", StringComparison.Ordinal), ToHex(Encode(new ConnAckPacket { ReasonCode = code }, ProtocolVersion.V311)));
    }

    [Fact]
    public void Connack_success_range_codes_other_than_success_are_rejected_for_3_1_1()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ReasonCodeRules.ToConnAckReturnCode(ReasonCode.GrantedQoS1));
    }
}
