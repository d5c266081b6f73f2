using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 3.1: CONNECT.</summary>
public sealed class ConnectTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private static byte[] PacketNamed(string name) => name switch
    {
        "PINGREQ" => RawPackets.PingReq(),
        "PUBLISH" => RawPackets.Publish("conf/before-connect", "x"),
        "PUBLISH-QOS1" => RawPackets.Publish("conf/before-connect", "x", qos: 1, packetId: 1),
        "SUBSCRIBE" => RawPackets.Subscribe(1, ("conf/before-connect", 0)),
        "UNSUBSCRIBE" => RawPackets.Unsubscribe(1, "conf/before-connect"),
        "DISCONNECT" => RawPackets.Disconnect(),
        "PUBREL" => RawPackets.PubRel(1),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [InlineData("PINGREQ")]
    [InlineData("PUBLISH")]
    [InlineData("PUBLISH-QOS1")]
    [InlineData("SUBSCRIBE")]
    [InlineData("UNSUBSCRIBE")]
    [InlineData("DISCONNECT")]
    [InlineData("PUBREL")]
    public async Task MQTT_3_1_0_1_FirstPacketMustBeConnect(string first)
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(PacketNamed(first));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_0_1_PublishBeforeConnectIsNotDelivered()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 0));

        await using (var rogue = await Server.OpenAsync())
        {
            await rogue.SendAsync(RawPackets.Publish(topic, "sneaky", retain: true));
            await rogue.ExpectClosedAsync();
        }

        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "marker");
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_3_1_0_2_SecondConnectIsProtocolViolation()
    {
        var id = Names.ClientId();
        await using var client = await Server.ConnectAsync(id);
        await client.SendAsync(RawPackets.Connect(id));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("MQTX")]
    [InlineData("mqtt")]
    [InlineData("MQ")]
    [InlineData("")]
    public async Task MQTT_3_1_2_1_UnknownProtocolNameClosesConnection(string protocolName)
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), ProtocolName = protocolName }));
        // The connection must not be accepted; a refusing CONNACK before the close is tolerated.
        await client.ExpectClosedAsync(allowed: f => f.Kind == PacketKind.ConnAck && f.Body.Length == 2 && f.Body[1] != 0);
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(6)]
    [InlineData(255)]
    public async Task MQTT_3_1_2_2_UnsupportedLevelGetsReturnCode1(byte level)
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), ProtocolLevel = level }));
        var ack = await client.ExpectConnAckAsync();
        Assert.Equal(1, ack.ReturnCode);
        Assert.False(ack.SessionPresent);
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_3_ReservedFlagSetClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), FlagsOverride = 0x03 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_9_WillFlagWithoutWillFieldsClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        // Will flag and clean session, but the payload stops after the client id.
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), FlagsOverride = 0x06 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_11_WillFieldsWithoutWillFlagCloseConnection()
    {
        await using var client = await Server.OpenAsync();
        // Flags say "clean session only" but a will topic and message follow the client id.
        var spec = new ConnectSpec { ClientId = Names.ClientId(), Will = new WillSpec(Names.Topic("will"), "x"), FlagsOverride = 0x02 };
        await client.SendAsync(RawPackets.Connect(spec));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(0x0A)] // will QoS 1 without will flag
    [InlineData(0x12)] // will QoS 2 without will flag
    public async Task MQTT_3_1_2_13_WillQosWithoutWillFlagClosesConnection(byte flags)
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), FlagsOverride = flags }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_14_WillQos3ClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        var spec = new ConnectSpec
        {
            ClientId = Names.ClientId(),
            Will = new WillSpec(Names.Topic("will"), "bye"),
            FlagsOverride = 0x02 | 0x04 | 0x18,
        };
        await client.SendAsync(RawPackets.Connect(spec));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_15_WillRetainWithoutWillFlagClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), FlagsOverride = 0x22 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_18_UserNameWithoutFlagClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        // Flags say "clean session only" but a user name follows the client id.
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), UserName = "user", FlagsOverride = 0x02 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_19_UserNameFlagWithoutUserNameClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), FlagsOverride = 0x82 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_19_UserNameAndPasswordAreAccepted()
    {
        var spec = new ConnectSpec { ClientId = Names.ClientId(), UserName = "someone", Password = [1, 2, 0, 255] };
        await using var client = await Server.ConnectAsync(spec);
        await client.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_20_PasswordWithoutFlagClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        // User name flag only, but a password follows the user name.
        var spec = new ConnectSpec { ClientId = Names.ClientId(), UserName = "someone", Password = [1, 2], FlagsOverride = 0x82 };
        await client.SendAsync(RawPackets.Connect(spec));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_21_PasswordFlagWithoutPasswordClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), UserName = "someone", FlagsOverride = 0xC2 }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_22_PasswordWithoutUserNameClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), Password = [1, 2, 3] }));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_3_3_MissingClientIdClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        // Variable header only: protocol name, level, flags, keep alive; no payload at all.
        var body = new ByteBuilder().Str("MQTT").U8(4).U8(0x02).U16(60).ToArray();
        await client.SendAsync(ByteBuilder.Frame(0x10, body));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_3_5_TwentyThreeCharacterAlphanumericClientIdIsAccepted()
    {
        const string alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        var id = string.Concat(Enumerable.Range(0, 23).Select(_ => alphabet[Random.Shared.Next(alphabet.Length)]));
        await using var client = await Server.ConnectAsync(id);
        await client.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_3_6_ZeroLengthClientIdWithCleanSessionIsAccepted()
    {
        await using var first = await Server.ConnectAsync(new ConnectSpec { ClientId = "", CleanSession = true });
        await using var second = await Server.ConnectAsync(new ConnectSpec { ClientId = "", CleanSession = true });

        // Each got its own unique id: the second did not take over the first.
        await first.PingAsync();
        await second.PingAsync();

        var topic = Names.Topic();
        await first.SubscribeGrantedAsync((topic, 1));
        await second.PublishAsync(topic, "hello", qos: 1);
        await first.ExpectPayloadAsync("hello");
    }

    [Fact]
    public async Task MQTT_3_1_3_8_ZeroLengthClientIdWithoutCleanSessionGetsReturnCode2()
    {
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = "", CleanSession = false });
        await using (client)
        {
            Assert.Equal(2, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
            await client.ExpectClosedAsync();
        }

        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_4_2_SameClientIdDisconnectsExistingConnection()
    {
        var id = Names.ClientId();
        await using var first = await Server.ConnectAsync(id);
        await using var second = await Server.ConnectAsync(id);
        await first.ExpectClosedAsync();
        await second.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_4_4_ValidConnectGetsReturnCode0()
    {
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.Equal(0, ack.AckFlags & 0xFE);
            await client.PingAsync();
        }
    }

    [Fact]
    public async Task MQTT_3_1_4_5_DataAfterRefusedConnectIsNotProcessed()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 1));

        await using (var refused = await Server.OpenAsync())
        {
            // CONNECT that must be refused (empty client id without clean session: return code 2), immediately
            // followed by a retained QoS 1 PUBLISH.
            await refused.SendTogetherAsync(
                RawPackets.Connect(new ConnectSpec { ClientId = "", CleanSession = false }),
                RawPackets.Publish(topic, "after-refusal", qos: 1, retain: true, packetId: 1));
            var ack = await refused.ExpectConnAckAsync();
            Assert.NotEqual(0, ack.ReturnCode);
            await refused.ExpectClosedAsync();
        }

        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "marker", qos: 1);
        await subscriber.ExpectPayloadAsync("marker");

        // Nothing was retained either.
        await using var late = await Server.ConnectAsync(Names.ClientId("late"));
        await late.SubscribeGrantedAsync((topic, 1));
        await late.ExpectNothingAsync();
    }
}
