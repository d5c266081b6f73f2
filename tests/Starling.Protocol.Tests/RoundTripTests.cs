using System.Buffers;
using System.Text;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>encode -> decode gives back the same packet, for every packet type and every version.</summary>
public class RoundTripTests
{
    private static MqttProperties AllConnectProperties() => new()
    {
        SessionExpiryInterval = 0xFFFFFFFF,
        AuthenticationMethod = "SCRAM-SHA-1",
        AuthenticationData = [1, 2, 3],
        RequestProblemInformation = 0,
        RequestResponseInformation = 1,
        ReceiveMaximum = 100,
        TopicAliasMaximum = 16,
        UserProperties = [new("a", "1"), new("a", "2"), new("b", "")],
        MaximumPacketSize = 1_000_000,
    };

    private static MqttProperties AllConnAckProperties() => new()
    {
        SessionExpiryInterval = 10,
        AssignedClientIdentifier = "auto-1",
        ServerKeepAlive = 120,
        AuthenticationMethod = "m",
        AuthenticationData = [9],
        ResponseInformation = "resp/",
        ServerReference = "other:1883",
        ReasonString = "ok",
        ReceiveMaximum = 65535,
        TopicAliasMaximum = 0,
        MaximumQoS = 1,
        RetainAvailable = 0,
        UserProperties = [new("k", "v")],
        MaximumPacketSize = 268_435_460,
        WildcardSubscriptionAvailable = 1,
        SubscriptionIdentifierAvailable = 0,
        SharedSubscriptionAvailable = 1,
    };

    private static MqttProperties AllPublishProperties() => new()
    {
        PayloadFormatIndicator = 1,
        MessageExpiryInterval = 3600,
        ContentType = "application/json",
        ResponseTopic = "reply/to/me",
        CorrelationData = [0xCA, 0xFE],
        SubscriptionIdentifiers = [1, 127, 128, 16_384, 268_435_455],
        TopicAlias = 65535,
        UserProperties = [new("x", "y"), new("x", "y")],
    };

    private static MqttProperties AllWillProperties() => new()
    {
        PayloadFormatIndicator = 0,
        MessageExpiryInterval = 1,
        ContentType = "text/plain",
        ResponseTopic = "r",
        CorrelationData = [],
        WillDelayInterval = 30,
        UserProperties = [new("w", "1")],
    };

    private static MqttProperties Reason(string s) => new() { ReasonString = s, UserProperties = [new("u", "v")] };

    /// <summary>(name, version, packet). Packets hold only what the version can carry, so the round trip is exact.</summary>
    private static IEnumerable<(string Name, ProtocolVersion Version, Func<MqttPacket> Packet)> Cases()
    {
        foreach (var v in new[] { ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500 })
        {
            var v5 = v == ProtocolVersion.V500;
            var tag = $"v{(int)v}";
            yield return ($"{tag} CONNECT minimal", v, () => new ConnectPacket
            {
                ProtocolName = v == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
                ProtocolVersion = v,
                ClientId = "client-ü",
                CleanSession = false,
            });
            yield return ($"{tag} CONNECT full", v, () => new ConnectPacket
            {
                ProtocolName = v == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
                ProtocolVersion = v,
                ClientId = "c",
                KeepAliveSeconds = 65535,
                Username = "üser",
                Password = [0, 255, 1],
                Will = new WillMessage
                {
                    Topic = "will/€",
                    Payload = new byte[300],
                    QoS = QualityOfService.ExactlyOnce,
                    Retain = true,
                    Properties = v5 ? AllWillProperties() : null,
                },
                Properties = v5 ? AllConnectProperties() : null,
            });
            yield return ($"{tag} CONNACK", v, () => new ConnAckPacket
            {
                SessionPresent = v != ProtocolVersion.V310,
                ReasonCode = v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable,
                Properties = v5 ? AllConnAckProperties() : null,
            });
            foreach (var qos in new[] { QualityOfService.AtMostOnce, QualityOfService.AtLeastOnce, QualityOfService.ExactlyOnce })
            {
                yield return ($"{tag} PUBLISH QoS{(int)qos}", v, () => new PublishPacket
                {
                    Topic = "a/b/c/€",
                    QoS = qos,
                    PacketId = qos == QualityOfService.AtMostOnce ? (ushort)0 : (ushort)65535,
                    Dup = qos != QualityOfService.AtMostOnce,
                    Retain = true,
                    Payload = new ReadOnlySequence<byte>(Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray()),
                    Properties = v5 ? AllPublishProperties() : null,
                });
            }
            foreach (var type in new[] { PacketType.PubAck, PacketType.PubRec, PacketType.PubRel, PacketType.PubComp })
            {
                yield return ($"{tag} {type}", v, () => new PubAckPacket(type, 42));
                if (v5)
                {
                    var failure = type is PacketType.PubAck or PacketType.PubRec ? ReasonCode.QuotaExceeded : ReasonCode.PacketIdentifierNotFound;
                    yield return ($"{tag} {type} reason", v, () => new PubAckPacket(type, 42, failure));
                    yield return ($"{tag} {type} properties", v, () => new PubAckPacket(type, 42) { Properties = Reason("r") });
                    yield return ($"{tag} {type} reason and properties", v, () => new PubAckPacket(type, 42, failure) { Properties = Reason("r") });
                }
            }
            yield return ($"{tag} SUBSCRIBE", v, () => new SubscribePacket
            {
                PacketId = 7,
                Subscriptions =
                [
                    new("sport/+/player1", new SubscriptionOptions(QualityOfService.AtMostOnce)),
                    new("#", new SubscriptionOptions(QualityOfService.ExactlyOnce,
                        NoLocal: v5, RetainAsPublished: v5, RetainHandling: v5 ? RetainHandling.SendAtSubscribeIfNew : RetainHandling.SendAtSubscribe)),
                    new(v5 ? "$share/group/a/#" : "a/#", new SubscriptionOptions(QualityOfService.AtLeastOnce)),
                ],
                Properties = v5 ? new MqttProperties { SubscriptionIdentifiers = [268_435_455], UserProperties = [new("s", "1")] } : null,
            });
            yield return ($"{tag} SUBACK", v, () => new SubAckPacket
            {
                PacketId = 7,
                ReasonCodes = v5
                    ? [ReasonCode.Success, ReasonCode.GrantedQoS1, ReasonCode.GrantedQoS2, ReasonCode.TopicFilterInvalid, ReasonCode.WildcardSubscriptionsNotSupported]
                    : [ReasonCode.Success, ReasonCode.GrantedQoS1, ReasonCode.GrantedQoS2, ReasonCode.UnspecifiedError],
                Properties = v5 ? Reason("sub") : null,
            });
            yield return ($"{tag} UNSUBSCRIBE", v, () => new UnsubscribePacket
            {
                PacketId = 8,
                TopicFilters = ["a/b", "+/+", "#"],
                Properties = v5 ? new MqttProperties { UserProperties = [new("q", "r")] } : null,
            });
            yield return ($"{tag} UNSUBACK", v, () => new UnsubAckPacket
            {
                PacketId = 8,
                ReasonCodes = v5 ? [ReasonCode.Success, ReasonCode.NoSubscriptionExisted, ReasonCode.NotAuthorized] : [],
                Properties = v5 ? Reason("unsub") : null,
            });
            yield return ($"{tag} PINGREQ", v, () => PingReqPacket.Instance);
            yield return ($"{tag} PINGRESP", v, () => PingRespPacket.Instance);
            yield return ($"{tag} DISCONNECT", v, () => new DisconnectPacket());
            if (v5)
            {
                yield return ($"{tag} DISCONNECT reason", v, () => new DisconnectPacket { ReasonCode = ReasonCode.DisconnectWithWillMessage });
                yield return ($"{tag} DISCONNECT properties", v, () => new DisconnectPacket
                {
                    ReasonCode = ReasonCode.UseAnotherServer,
                    Properties = new MqttProperties { SessionExpiryInterval = 0, ServerReference = "s", ReasonString = "r", UserProperties = [new("a", "b")] },
                });
                yield return ($"{tag} AUTH", v, () => new AuthPacket());
                yield return ($"{tag} AUTH reason", v, () => new AuthPacket { ReasonCode = ReasonCode.ReAuthenticate });
                yield return ($"{tag} AUTH properties", v, () => new AuthPacket
                {
                    ReasonCode = ReasonCode.Success,
                    Properties = new MqttProperties { AuthenticationMethod = "m", AuthenticationData = new byte[70_000 / 2], ReasonString = "r" },
                });
            }
        }
    }

    public static TheoryData<string> Names => new(Cases().Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Names))]
    public void Encode_then_decode_gives_the_same_packet(string name)
    {
        var (_, version, factory) = Cases().Single(c => c.Name == name);
        var packet = factory();
        var bytes = Encode(packet, version);
        var decoded = Decode(bytes, packet is ConnectPacket ? ProtocolVersion.Unknown : version);
        Assert.Equal(packet.Type, decoded.Type);
        Assert.Equal(PacketDump.Describe(packet), PacketDump.Describe(decoded));
        Assert.Equal(ToHex(bytes), ToHex(Encode(decoded, version)));
    }

    [Fact]
    public void Every_packet_type_is_covered_for_every_version()
    {
        var covered = Cases().Select(c => (c.Version, c.Packet().Type)).ToHashSet();
        foreach (var v in new[] { ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500 })
        {
            foreach (var t in Enum.GetValues<PacketType>())
            {
                if (t == PacketType.Auth && v != ProtocolVersion.V500)
                {
                    continue;
                }
                Assert.Contains((v, t), covered);
            }
        }
    }

    [Fact]
    public void Large_publish_round_trips_through_the_chunked_path()
    {
        var payload = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray();
        var packet = new PublishPacket
        {
            Topic = "big",
            QoS = QualityOfService.AtLeastOnce,
            PacketId = 1,
            Payload = Split(payload, 1, 70_000, 200_000),
        };
        var bytes = Encode(packet, ProtocolVersion.V500);
        var decoded = Assert.IsType<PublishPacket>(Decode(bytes, ProtocolVersion.V500));
        Assert.Equal(payload, decoded.Payload.ToArray());
        Assert.Equal("big", decoded.Topic);
    }

    [Fact]
    public void Long_topic_and_strings_round_trip()
    {
        var topic = string.Concat(Enumerable.Repeat("€/", 10_000)) + "x"; // 40,001 UTF-8 bytes: rented topic buffer
        var packet = new PublishPacket { Topic = topic, Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("p")) };
        var decoded = Assert.IsType<PublishPacket>(Decode(Encode(packet, ProtocolVersion.V311), ProtocolVersion.V311));
        Assert.Equal(topic, decoded.Topic);
    }

    [Fact]
    public void String_longer_than_65535_bytes_cannot_be_encoded()
    {
        var packet = new ConnectPacket { ClientId = new string('a', 65_536) };
        Assert.Throws<ArgumentException>(() => PacketEncoder.GetSize(packet, ProtocolVersion.V311));
    }
}
