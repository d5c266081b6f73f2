using System.Diagnostics;
using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>
/// MQTT 5.0 behaviour that depends on server settings (each test starts its own server with overrides): what CONNACK
/// announces and what happens when a client goes past it.
/// </summary>
public sealed class ServerLimitsTests
{
    private static Task<TestServer> StartAsync(string key, string value)
        => TestServer.StartAsync(new Dictionary<string, string?> { [key] = value });

    [Fact]
    public async Task MQTT_3_2_2_9_MaximumQoSIsAnnouncedAndEnforced()
    {
        await using var server = await StartAsync("MaximumQoS", "1");
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(1u, ack.Properties.Number(Prop.MaximumQoS));

            // [MQTT-3.2.2-10]: SUBSCRIBE at QoS 2 is still accepted (granted at most 1).
            var topic = Names.Topic();
            var codes = await client.Subscribe5Async(null, new Sub(topic, 2));
            Assert.Equal([1], codes);

            // A PUBLISH above the announced maximum is answered with DISCONNECT 0x9B (section 3.2.2.3.4).
            await client.SendAsync(Packets5.Publish(topic, "too-high", qos: 2, packetId: 7));
            await client.ExpectDisconnect5Async(0x9B);
        }

        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_2_2_12_WillQosAboveMaximumIsRefusedWith0x9B()
    {
        await using var server = await StartAsync("MaximumQoS", "0");
        await using var client = await server.OpenAsync();
        await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = Names.ClientId(), Will = new WillSpec5(Names.Topic(), "w", qos: 1) }));
        var ack = await client.ExpectConnAck5Async();
        Assert.Equal(0x9B, ack.ReasonCode);
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task MQTT_3_2_2_13_RetainedWillRefusedWhenRetainNotAvailable()
    {
        await using var server = await StartAsync("RetainAvailable", "false");
        var (probe, probeAck) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (probe)
        {
            Assert.Equal(0u, probeAck.Properties.Number(Prop.RetainAvailable));
        }

        await using var client = await server.OpenAsync();
        await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = Names.ClientId(), Will = new WillSpec5(Names.Topic(), "w", retain: true) }));
        var ack = await client.ExpectConnAck5Async();
        Assert.Equal(0x9A, ack.ReasonCode);
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_RetainedPublishWhenRetainNotAvailableIsDisconnected0x9A()
    {
        await using var server = await StartAsync("RetainAvailable", "false");
        await using var client = await server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(Names.Topic(), "r", retain: true));
        await client.ExpectDisconnect5Async(0x9A);
    }

    [Fact]
    public async Task MQTT_3_2_2_21_ServerKeepAliveOverridesClientValueAndIsEnforced()
    {
        await using var server = await StartAsync("Limits:MaxKeepAliveSeconds", "1");
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), KeepAlive = 60 });
        await using (client)
        {
            Assert.Equal(1u, ack.Properties.Number(Prop.ServerKeepAlive));
            // The server uses the value it announced: silent for 1.5 s -> DISCONNECT 0x8D [MQTT-3.1.2-22].
            await client.ExpectDisconnect5Async(0x8D, TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_SessionExpiryCapIsAnnouncedInConnAck()
    {
        await using var server = await StartAsync("Limits:MaxSessionExpirySeconds", "5");
        var props = new Props().U32(Prop.SessionExpiryInterval, 100);
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await using (client)
        {
            Assert.Equal(5u, ack.Properties.Number(Prop.SessionExpiryInterval));
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_PacketLargerThanServerMaximumIsDisconnected0x95()
    {
        await using var server = await StartAsync("Limits:MaxPacketSize", "1024");
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(1024u, ack.Properties.Number(Prop.MaximumPacketSize));
            await client.Publish5Async(Names.Topic(), new string('a', 900), 1);
            await client.SendAsync(Packets5.Publish(Names.Topic(), new string('b', 2000), qos: 1, packetId: 99));
            await client.ExpectDisconnect5Async(0x95);
        }

        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_4_7_ClientExceedingServerReceiveMaximumIsDisconnected0x93()
    {
        await using var server = await StartAsync("Limits:ReceiveMaximum", "2");
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(2u, ack.Properties.Number(Prop.ReceiveMaximum));
            var topic = Names.Topic();
            // QoS 2 publishes stay unacknowledged until PUBREL/PUBCOMP: the third one is over the announced maximum.
            for (ushort id = 1; id <= 2; id++)
            {
                await client.SendAsync(Packets5.Publish(topic, "q2", qos: 2, packetId: id));
                await client.ExpectAck5Async(PacketKind.PubRec, id);
            }

            await client.SendAsync(Packets5.Publish(topic, "q2", qos: 2, packetId: 3));
            await client.ExpectDisconnect5Async(0x93);
        }

        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_13_2_DisconnectReachesAClientThatKeepsSendingAfterTheViolation()
    {
        // The client sends 20 QoS 2 publishes in one write, past a Receive Maximum of 2, without reading. The broker
        // stops at the third with DISCONNECT 0x93 and closes while the rest is still unread in its socket: closing
        // then would make the kernel reset the connection, and the reset can throw away the PUBRECs and the
        // DISCONNECT before the client reads them. The broker closes lingering (FIN, then discards what still comes).
        await using var server = await StartAsync("Limits:ReceiveMaximum", "2");
        await using var client = await server.Connect5Async(Names.ClientId());
        var topic = Names.Topic();
        var padding = new string('p', 2000);
        await client.SendTogetherAsync([.. Enumerable.Range(1, 20).Select(i => Packets5.Publish(topic, padding, qos: 2, packetId: (ushort)i))]);
        await client.ExpectAck5Async(PacketKind.PubRec, 1);
        await client.ExpectAck5Async(PacketKind.PubRec, 2);
        await client.ExpectDisconnect5Async(0x93);
        // Like a client that answers the PUBRECs it got before noticing the DISCONNECT: its writes must not meet a
        // reset connection (EPIPE) either.
        await client.SendAsync(Packets5.Ack(PacketKind.PubRel, 1));
        await client.SendAsync(Packets5.Ack(PacketKind.PubRel, 2));
        await client.ExpectClosedAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_2_2_18_TopicAliasMaximumZeroIsNotAnnouncedAndAliasesAreRefused()
    {
        await using var server = await StartAsync("Limits:TopicAliasMaximum", "0");
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.True((ack.Properties.Number(Prop.TopicAliasMaximum) ?? 0) == 0, ack.ToString());
            await client.SendAsync(Packets5.Publish(Names.Topic(), "aliased", properties: new Props().U16(Prop.TopicAlias, 1)));
            await client.ExpectDisconnect5Async(0x94);
        }
    }

    [Fact]
    public async Task MQTT_4_13_2_ConnectionLimitRefusedWithQuotaExceeded()
    {
        await using var server = await StartAsync("Limits:MaxConnections", "1");
        await using var first = await server.Connect5Async(Names.ClientId());
        var (second, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (second)
        {
            Assert.True(ack.ReasonCode is 0x97 or 0x89, $"expected CONNACK 0x97 (quota exceeded) or 0x89 (busy), got {ack}");
            await second.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task MQTT_3_14_ServerShutdownSendsDisconnect0x8B()
    {
        var server = await TestServer.StartAsync();
        var client = await server.Connect5Async(Names.ClientId());
        await using (client)
        {
            var stop = server.DisposeAsync().AsTask();
            await client.ExpectDisconnect5Async(0x8B, TimeSpan.FromSeconds(10));
            await stop;
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_22_KeepAliveTimeoutSendsDisconnect0x8D()
    {
        await using var server = await TestServer.StartAsync();
        var watch = Stopwatch.StartNew();
        await using var client = await server.Connect5Async(Names.ClientId(), keepAlive: 1);
        await client.ExpectDisconnect5Async(0x8D, TimeSpan.FromSeconds(5));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1), $"closed after {watch.Elapsed.TotalMilliseconds:0} ms");
    }
    [Fact]
    public async Task MQTT_3_2_2_ResponseInformationIsSentWhenRequestedAndConfigured()
    {
        await using var server = await StartAsync("ResponseInformation", "replies/starling");
        var asked = new Props().Byte(Prop.RequestResponseInformation, 1);
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), Properties = asked });
        await using (client)
        {
            Assert.Equal("replies/starling", ack.Properties.Text(Prop.ResponseInformation));
        }

        // [MQTT-3.1.2-28]: not requested, not sent.
        var (other, otherAck) = await server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (other)
        {
            Assert.False(otherAck.Properties.Has(Prop.ResponseInformation), otherAck.ToString());
        }
    }

    [Theory]
    [InlineData("false", 0x9C)]
    [InlineData("true", 0x9D)]
    public async Task MQTT_4_11_ServerReferenceRedirectsWith0x9COr0x9D(string moved, byte expected)
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["ServerReference"] = "mqtt.example.net:1883",
            ["ServerMoved"] = moved,
        });
        await using var client = await server.OpenAsync();
        await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = Names.ClientId() }));
        var ack = await client.ExpectConnAck5Async();
        Assert.Equal(expected, ack.ReasonCode);
        Assert.Equal("mqtt.example.net:1883", ack.Properties.Text(Prop.ServerReference));
        await client.ExpectClosedAsync();

        // A 3.1.1 client cannot be redirected: it is refused as "server unavailable" (return code 3).
        await using var old = await server.OpenAsync();
        await old.SendAsync(RawPackets.Connect(Names.ClientId()));
        Assert.Equal(3, (await old.ExpectConnAckAsync()).ReturnCode);
        await old.ExpectClosedAsync();
    }

    [Fact]
    public async Task MQTT_3_3_2_ValidatePayloadFormatOffDeliversAPayloadThatIsNotUtf8()
    {
        await using var server = await StartAsync("ValidatePayloadFormat", "false");
        var topic = Names.Topic();
        await using var subscriber = await server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, 1);
        await using var publisher = await server.Connect5Async(Names.ClientId("pub"));
        byte[] notUtf8 = [0x61, 0xC3, 0x28];
        await publisher.SendAsync(Packets5.Publish(topic, notUtf8, qos: 1, packetId: 5, properties: new Props().Byte(Prop.PayloadFormatIndicator, 1)));
        Assert.Equal(0x00, (await publisher.ExpectAck5Async(PacketKind.PubAck, 5)).ReasonCode);
        var got = await subscriber.ExpectPublish5Async();
        Assert.Equal(notUtf8, got.Payload);
        Assert.Equal(1u, got.Properties.Number(Prop.PayloadFormatIndicator));
    }
}
