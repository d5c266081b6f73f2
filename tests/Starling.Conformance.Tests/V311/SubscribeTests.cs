using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 3.8 and 3.9: SUBSCRIBE and SUBACK.</summary>
public sealed class SubscribeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Theory]
    [InlineData(0x80)]
    [InlineData(0x81)]
    [InlineData(0x83)]
    [InlineData(0x8A)]
    public async Task MQTT_3_8_1_1_SubscribeWithWrongFlagsClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var payload = new ByteBuilder().Str(Names.Topic()).U8(0).ToArray();
        await client.SendAsync(RawPackets.SubscribeRaw(header, 1, payload));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_3_3_SubscribeWithoutTopicFiltersClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.SubscribeRaw(0x82, 1, []));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_3_3_SubscribeWithFilterButNoQosByteClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.SubscribeRaw(0x82, 1, new ByteBuilder().Str(Names.Topic()).ToArray()));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(0x03)]
    [InlineData(0x04)]
    [InlineData(0x81)]
    [InlineData(0xFC)]
    public async Task MQTT_3_8_3_4_InvalidRequestedQosByteClosesConnection(byte options)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var payload = new ByteBuilder().Str(Names.Topic()).U8(options).ToArray();
        await client.SendAsync(RawPackets.SubscribeRaw(0x82, 1, payload));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_4_1_SubscribeIsAnsweredWithSubAck()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Subscribe(0x0102, (Names.Topic(), 1)));
        var frame = await client.ExpectPacketAsync(PacketKind.SubAck);
        Assert.Equal(0x90, frame.Header);
        Assert.Equal(3, frame.Body.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0xABCD)]
    [InlineData(0xFFFF)]
    public async Task MQTT_3_8_4_2_SubAckHasSamePacketId(int packetId)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Subscribe((ushort)packetId, (Names.Topic(), 0)));
        Assert.Equal([0], await client.ExpectSubAckAsync((ushort)packetId));
    }

    [Fact]
    public async Task MQTT_3_8_4_3_SameFilterReplacesSubscription()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((topic, 0));
        await subscriber.SubscribeGrantedAsync((topic, 2));

        await publisher.PublishAsync(topic, "replaced", qos: 2);
        await publisher.PublishAsync(topic, "marker", qos: 2);

        // One subscription, now at QoS 2: one copy of each message.
        var first = await subscriber.ExpectPayloadAsync("replaced");
        Assert.Equal(2, first.Qos);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_3_8_4_3_ReplacingSubscriptionDoesNotInterruptFlow()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await publisher.PublishAsync(topic, "in-flight", qos: 2);
        var inflight = await subscriber.ExpectPublishAsync();

        // Replace the subscription while the QoS 2 delivery is half way: the flow still completes.
        await subscriber.SendAsync(RawPackets.Subscribe(500, (topic, 1)));
        Assert.Equal([1], await subscriber.ExpectSubAckAsync(500));
        await subscriber.SendAsync(RawPackets.PubRec(inflight.PacketId));
        await subscriber.ExpectAckAsync(PacketKind.PubRel, inflight.PacketId);
        await subscriber.SendAsync(RawPackets.PubComp(inflight.PacketId));

        await publisher.PublishAsync(topic, "after", qos: 2);
        Assert.Equal(1, (await subscriber.ExpectPayloadAsync("after")).Qos);
    }

    [Fact]
    public async Task MQTT_3_8_4_4_MultipleFiltersActLikeSeparateSubscribes()
    {
        var root = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        var codes = await subscriber.SubscribeAsync((root + "/a", 0), (root + "/b", 1), (root + "/c", 2));
        Assert.Equal([0, 1, 2], codes);

        foreach (var leaf in new[] { "a", "b", "c" })
        {
            await publisher.PublishAsync(root + "/" + leaf, leaf, qos: 2);
            var delivered = await subscriber.ExpectPayloadAsync(leaf);
            Assert.Equal(leaf switch { "a" => 0, "b" => 1, _ => 2 }, delivered.Qos);
        }
    }

    [Fact]
    public async Task MQTT_3_8_4_5_SubAckHasOneReturnCodePerFilterIncludingFailures()
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var codes = await client.SubscribeAsync(
            (root + "/ok1", 1),
            (root + "/#/bad", 0),
            (root + "/bad+", 1),
            (root + "/ok2", 2));
        Assert.Equal([1, 0x80, 0x80, 2], codes);

        // The good filters in the same packet are in force.
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(root + "/ok2", "good", qos: 2);
        await client.ExpectPayloadAsync("good");
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(0, 1, 0)]
    [InlineData(0, 2, 0)]
    [InlineData(1, 0, 0)]
    [InlineData(1, 1, 1)]
    [InlineData(1, 2, 1)]
    [InlineData(2, 0, 0)]
    [InlineData(2, 1, 1)]
    [InlineData(2, 2, 2)]
    public async Task MQTT_3_8_4_6_DeliveredQosIsMinimumOfPublishAndGranted(int publishQos, int subscribeQos, int expectedQos)
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((topic, subscribeQos));
        await publisher.PublishAsync(topic, "min", qos: publishQos);
        Assert.Equal(expectedQos, (await subscriber.ExpectPayloadAsync("min")).Qos);
    }

    [Fact]
    public async Task MQTT_3_9_3_1_ReturnCodesFollowFilterOrder()
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var codes = await client.SubscribeAsync((root + "/x", 2), (root + "/y", 0), ("bad/#/", 1), (root + "/z", 1));
        Assert.Equal([2, 0, 0x80, 1], codes);
    }

    [Fact]
    public async Task MQTT_3_9_3_2_ReturnCodesAreOnlyAllowedValues()
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var codes = await client.SubscribeAsync((root + "/0", 0), (root + "/1", 1), (root + "/2", 2), (root + "/+/#", 2), ("#/", 0), ("+", 1));
        Assert.All(codes, c => Assert.Contains(c, new byte[] { 0x00, 0x01, 0x02, 0x80 }));
    }

    [Fact]
    public async Task MQTT_3_8_3_2_WildcardFiltersAreSupported()
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        Assert.Equal([1, 1, 1], await client.SubscribeAsync((root + "/+", 1), (root + "/#", 1), ("+/" + root + "/#", 1)));
    }
}
