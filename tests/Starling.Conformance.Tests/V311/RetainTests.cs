using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 3.3.1.3: retained messages.</summary>
public sealed class RetainTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task PublishAsync(string topic, string payload, int qos, bool retain)
    {
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, payload, qos, retain);
    }

    private async Task<RawMqttClient> SubscribeAsync(string filter, int qos)
    {
        var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((filter, qos));
        return subscriber;
    }

    [Theory]
    [InlineData(0, 2, 0)]
    [InlineData(1, 2, 1)]
    [InlineData(2, 2, 2)]
    [InlineData(2, 1, 1)]
    [InlineData(1, 0, 0)]
    public async Task MQTT_3_3_1_5_RetainedMessageIsStoredWithItsQos(int publishQos, int subscribeQos, int expectedQos)
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "stored", publishQos, retain: true);

        await using var subscriber = await SubscribeAsync(topic, subscribeQos);
        var retained = await subscriber.ExpectPayloadAsync("stored");
        Assert.True(retained.Retain);
        Assert.Equal(expectedQos, retained.Qos);
        Assert.Equal(topic, retained.Topic);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task MQTT_3_3_1_6_EveryMatchingRetainedMessageIsSentEvenPastTheQueueLimit(int qos)
    {
        // The SUBSCRIBE enqueues them all before the writer runs: with the queue limits of live traffic (100 here)
        // all but the first 100 were dropped. Mosquitto sends them all; so does Starling, whatever the limit.
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxQueuedMessages"] = "100" });
        var root = Names.Topic();
        const int count = 1000;
        await using (var publisher = await server.ConnectAsync(Names.ClientId("pub")))
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync($"{root}/{i}", "r" + i, 0, retain: true);
            }
            await publisher.PingAsync(); // the server has read (and retained) every one of them
        }
        await using var subscriber = await server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((root + "/#", qos));
        var seen = new HashSet<string>();
        for (var i = 0; i < count; i++)
        {
            var publish = await subscriber.ReceiveAndAckAsync();
            Assert.True(publish.Retain);
            seen.Add(publish.Topic);
        }
        Assert.Equal(count, seen.Count);
        await subscriber.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_5_NewerRetainedMessageReplacesOlder()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "one", 1, retain: true);
        await PublishAsync(topic, "two", 1, retain: true);

        await using var subscriber = await SubscribeAsync(topic, 1);
        await subscriber.ExpectPayloadAsync("two");
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_6_NewSubscriptionGetsRetainedMessageOfEveryMatchingTopic()
    {
        var root = Names.Topic();
        await PublishAsync(root + "/a", "A", 1, retain: true);
        await PublishAsync(root + "/b", "B", 1, retain: true);
        await PublishAsync(root + "/c/deeper", "C", 1, retain: true);

        await using var subscriber = await SubscribeAsync(root + "/+", 1);
        var got = new[] { await subscriber.ReceiveAndAckAsync(), await subscriber.ReceiveAndAckAsync() };
        Assert.Equal(["A", "B"], got.Select(p => p.Text).Order(StringComparer.Ordinal));
        Assert.All(got, p => Assert.True(p.Retain));
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_7_RetainedQos0MessageReplacesPrevious()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "old", 1, retain: true);
        await PublishAsync(topic, "new-qos0", 0, retain: true);

        await using var subscriber = await SubscribeAsync(topic, 1);
        // The server SHOULD keep the QoS 0 message (and MAY drop it later); it MUST NOT keep the old one.
        var frame = await subscriber.TryReceiveAsync(RawMqttClient.QuietPeriod);
        if (frame is not null)
        {
            var retained = ReceivedPublish.Parse(frame);
            Assert.Equal("new-qos0", retained.Text);
            Assert.Equal(0, retained.Qos);
        }
    }

    [Fact]
    public async Task MQTT_3_3_1_8_MessageSentForNewSubscriptionHasRetainFlag()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "flagged", 0, retain: true);
        await using var subscriber = await SubscribeAsync(topic, 0);
        var frame = await subscriber.ExpectPacketAsync(PacketKind.Publish);
        Assert.Equal(0x31, frame.Header);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MQTT_3_3_1_9_LiveDeliveryHasRetainFlag0(int qos)
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscribeAsync(topic, qos);
        await PublishAsync(topic, "live", qos, retain: true);
        var live = await subscriber.ExpectPayloadAsync("live");
        Assert.False(live.Retain);
    }

    [Fact]
    public async Task MQTT_3_3_1_10_ZeroLengthRetainedIsDeliveredAndClearsRetained()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "to-clear", 1, retain: true);
        await using var subscriber = await SubscribeAsync(topic, 1);
        await subscriber.ExpectPayloadAsync("to-clear");

        await PublishAsync(topic, "", 1, retain: true);
        var cleared = await subscriber.ReceiveAndAckAsync();
        Assert.Empty(cleared.Payload);
        Assert.False(cleared.Retain);

        await using var late = await SubscribeAsync(topic, 1);
        await late.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_11_ZeroLengthRetainedMessageIsNotStored()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "", 0, retain: true);
        await PublishAsync(topic, "", 1, retain: true);
        await using var subscriber = await SubscribeAsync(topic, 1);
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_12_NonRetainedPublishLeavesRetainedMessageAlone()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "keep", 1, retain: true);
        await PublishAsync(topic, "passing", 1, retain: false);
        await PublishAsync(topic, "", 1, retain: false);

        await using var subscriber = await SubscribeAsync(topic, 1);
        var retained = await subscriber.ExpectPayloadAsync("keep");
        Assert.True(retained.Retain);
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_7_RetainedMessageOutlivesPublisherSession()
    {
        var topic = Names.Topic();
        var id = Names.ClientId("pub");
        await using (var publisher = await Server.ConnectAsync(id, cleanSession: true))
        {
            await publisher.PublishAsync(topic, "outlives", 1, retain: true);
            await publisher.SendAsync(RawPackets.Disconnect());
            await publisher.ExpectClosedAsync();
        }

        // A clean session with the same id discards whatever session there was.
        await using (var again = await Server.ConnectAsync(id, cleanSession: true))
        {
            await again.PingAsync();
        }

        await using var subscriber = await SubscribeAsync(topic, 1);
        Assert.True((await subscriber.ExpectPayloadAsync("outlives")).Retain);
    }

    [Fact]
    public async Task MQTT_3_8_4_3_ResubscribeSendsRetainedAgain()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "again", 1, retain: true);
        await using var subscriber = await SubscribeAsync(topic, 1);
        await subscriber.ExpectPayloadAsync("again");

        await subscriber.SubscribeGrantedAsync((topic, 2));
        var resent = await subscriber.ExpectPayloadAsync("again");
        Assert.True(resent.Retain);
        Assert.Equal(1, resent.Qos);
    }
}
