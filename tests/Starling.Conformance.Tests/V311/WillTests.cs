using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 3.1.2.5 to 3.1.2.7 and 3.14: the will message.</summary>
public sealed class WillTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<RawMqttClient> SubscribeAsync(string topic, int qos = 2)
    {
        var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, qos));
        return subscriber;
    }

    private Task<RawMqttClient> ConnectWithWillAsync(string topic, string payload, int qos = 0, bool retain = false, ushort keepAlive = 60, string? clientId = null, bool cleanSession = true)
        => Server.ConnectAsync(new ConnectSpec
        {
            ClientId = clientId ?? Names.ClientId("will"),
            CleanSession = cleanSession,
            KeepAlive = keepAlive,
            Will = new WillSpec(topic, payload, qos, retain),
        });

    /// <summary>A message from another client on the same topic: after it, absence of the will is certain.</summary>
    private async Task PublishMarkerAsync(string topic)
    {
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "marker", qos: 1);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenClientClosesWithoutDisconnect()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var client = await ConnectWithWillAsync(topic, "gone");
        client.CloseAbruptly();

        var will = await subscriber.ExpectPublishAsync();
        Assert.Equal(topic, will.Topic);
        Assert.Equal("gone", will.Text);
        Assert.False(will.Retain);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenConnectionIsReset()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var client = await ConnectWithWillAsync(topic, "reset");
        client.Reset();

        Assert.Equal("reset", (await subscriber.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenServerClosesForProtocolError()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var client = await ConnectWithWillAsync(topic, "violation");
        await client.SendAsync(RawPackets.PublishRaw(0x36, RawMqttClient.Utf8("x/y"), 1, [1])); // QoS 3
        await client.ExpectClosedAsync();

        Assert.Equal("violation", (await subscriber.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenKeepAliveExpires()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var client = await ConnectWithWillAsync(topic, "silent", keepAlive: 1);
        await client.ExpectClosedAsync();

        Assert.Equal("silent", (await subscriber.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenTakenOver()
    {
        // Server-initiated close of the old connection: not a DISCONNECT from the client, so the will goes out.
        var topic = Names.Topic("will");
        var id = Names.ClientId("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var first = await ConnectWithWillAsync(topic, "replaced", clientId: id);
        await using var second = await Server.ConnectAsync(id);
        await first.ExpectClosedAsync();

        Assert.Equal("replaced", (await subscriber.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillPublishedWhenTakenOverEvenIfTheSessionIsResumed()
    {
        // 3.1.1 ties the will to the network connection: a takeover that resumes the session (clean session 0) still
        // publishes the old connection's will, as Mosquitto does (v5 differs: MQTT_3_1_3_9_TakeoverThatResumesTheSession...).
        var topic = Names.Topic("will");
        var id = Names.ClientId("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var first = await Server.ConnectAsync(new ConnectSpec { ClientId = id, CleanSession = false, Will = new WillSpec(topic, "resumed-anyway") });
        await using var second = await Server.ConnectAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await first.ExpectClosedAsync();

        Assert.Equal("resumed-anyway", (await subscriber.ExpectPublishAsync()).Text);
        await second.SendAsync(RawPackets.Disconnect());
    }

    [Fact]
    public async Task MQTT_3_1_2_10_WillNotPublishedAfterDisconnect()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using (var client = await ConnectWithWillAsync(topic, "must-not-appear"))
        {
            await client.SendAsync(RawPackets.Disconnect());
            await client.ExpectClosedAsync();
        }

        await PublishMarkerAsync(topic);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_3_1_2_10_WillRemovedOncePublished()
    {
        var topic = Names.Topic("will");
        var id = Names.ClientId("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using (var client = await ConnectWithWillAsync(topic, "once", clientId: id, cleanSession: false))
        {
            client.CloseAbruptly();
        }

        await subscriber.ExpectPayloadAsync("once");

        // Same session, new connection without a will, closed abruptly again: the old will is gone.
        await using (var again = await Server.ConnectAsync(id, cleanSession: false))
        {
            again.CloseAbruptly();
        }

        await using (var third = await Server.ConnectAsync(id, cleanSession: false))
        {
            // Connecting again proves the server has dealt with the previous connection's end.
            await third.PingAsync();
        }

        await PublishMarkerAsync(topic);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Theory]
    [InlineData(0, 2, 0)]
    [InlineData(1, 2, 1)]
    [InlineData(2, 2, 2)]
    [InlineData(2, 1, 1)]
    public async Task MQTT_3_1_2_14_WillPublishedAtItsQos(int willQos, int subscriptionQos, int expectedQos)
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic, subscriptionQos);
        await using var client = await ConnectWithWillAsync(topic, "qos", qos: willQos);
        client.CloseAbruptly();

        var will = await subscriber.ExpectPublishAsync();
        Assert.Equal(expectedQos, will.Qos);
        Assert.Equal("qos", will.Text);
        await subscriber.AcknowledgeAsync(will);
    }

    [Fact]
    public async Task MQTT_3_1_2_16_WillRetain0IsPublishedNonRetained()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using (var client = await ConnectWithWillAsync(topic, "plain", qos: 1, retain: false))
        {
            client.CloseAbruptly();
        }

        await subscriber.ExpectPayloadAsync("plain");

        await using var late = await Server.ConnectAsync(Names.ClientId("late"));
        await late.SubscribeGrantedAsync((topic, 1));
        await late.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_17_WillRetain1IsPublishedRetained()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using (var client = await ConnectWithWillAsync(topic, "kept", qos: 1, retain: true))
        {
            client.CloseAbruptly();
        }

        var live = await subscriber.ExpectPayloadAsync("kept");
        Assert.False(live.Retain); // live delivery to an existing subscription [MQTT-3.3.1-9]

        await using var late = await Server.ConnectAsync(Names.ClientId("late"));
        await late.SubscribeGrantedAsync((topic, 1));
        var retained = await late.ExpectPayloadAsync("kept");
        Assert.True(retained.Retain);
        Assert.Equal(1, retained.Qos);
    }

    [Fact]
    public async Task MQTT_3_1_3_1_ConnectWithEveryPayloadFieldInOrder()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        var spec = new ConnectSpec
        {
            ClientId = Names.ClientId("full"),
            Will = new WillSpec(topic, [0, 1, 2, 255], 1),
            UserName = "user",
            Password = [9, 8, 7],
        };
        await using (var client = await Server.ConnectAsync(spec))
        {
            client.CloseAbruptly();
        }

        var will = await subscriber.ExpectPublishAsync();
        Assert.Equal(topic, will.Topic);
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, will.Payload);
    }

    [Fact]
    public async Task MQTT_3_14_4_3_DisconnectDiscardsWill()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using (var client = await ConnectWithWillAsync(topic, "discarded", qos: 1, retain: true))
        {
            await client.SendAsync(RawPackets.Disconnect());
            await client.ExpectClosedAsync();
        }

        await PublishMarkerAsync(topic);
        await subscriber.ExpectPayloadAsync("marker");

        // The retained will was not stored either.
        await using var late = await Server.ConnectAsync(Names.ClientId("late"));
        await late.SubscribeGrantedAsync((topic, 1));
        await late.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_14_1_1_DisconnectWithReservedFlagsClosesAndPublishesWill()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscribeAsync(topic);
        await using var client = await ConnectWithWillAsync(topic, "bad-disconnect");
        await client.SendAsync(new byte[] { 0xE1, 0x00 });
        await client.ExpectClosedAsync();

        // Not a valid DISCONNECT, so the will was not discarded.
        Assert.Equal("bad-disconnect", (await subscriber.ExpectPublishAsync()).Text);
        await Server.AssertStillServingAsync();
    }
}
