using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>MQTT 5.0 section 3.3: PUBLISH properties, message expiry, topic aliases and outbound limits.</summary>
public sealed class PublishTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<RawMqttClient> SubscriberAsync(string topic, int qos = 1, Props? connectProps = null)
    {
        var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("sub"), Properties = connectProps ?? Props.None });
        await client.Subscribe5GrantedAsync(topic, qos);
        return client;
    }

    [Fact]
    public async Task MQTT_3_3_2_15_MQTT_3_3_2_16_ResponseTopicAndCorrelationDataAreForwardedUnaltered()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        byte[] correlation = [0x00, 0xFF, 0x10, 0x80, 0x7F];
        var props = new Props().Str(Prop.ResponseTopic, "reply/to/ü").Bin(Prop.CorrelationData, correlation);
        await publisher.Publish5Async(topic, "request", 1, props);

        var got = await subscriber.ExpectPayload5Async("request");
        Assert.Equal("reply/to/ü", got.Properties.Text(Prop.ResponseTopic));
        Assert.Equal(correlation, got.Properties.Binary(Prop.CorrelationData));
    }

    [Fact]
    public async Task MQTT_3_3_2_17_MQTT_3_3_2_18_UserPropertiesAreForwardedUnalteredAndInOrder()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        (string, string)[] expected = [("z", "1"), ("a", "2"), ("z", "3"), ("k", ""), ("", "empty-name"), ("ünï", "cödé")];
        var props = new Props();
        foreach (var (k, v) in expected)
        {
            props.User(k, v);
        }

        await publisher.Publish5Async(topic, "with-user-properties", 1, props);
        var got = await subscriber.ExpectPayload5Async("with-user-properties");
        Assert.Equal(expected, got.Properties.UserProperties);
    }

    [Fact]
    public async Task MQTT_3_3_2_4_MQTT_3_3_2_20_PayloadFormatIndicatorAndContentTypeAreForwardedUnaltered()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 0);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "{\"a\":1}", 0, new Props().Byte(Prop.PayloadFormatIndicator, 1).Str(Prop.ContentType, "application/json; charset=utf-8"));
        await publisher.Publish5Async(topic, "binary", 0, new Props().Byte(Prop.PayloadFormatIndicator, 0).Str(Prop.ContentType, ""));

        var first = await subscriber.ExpectPublish5Async();
        Assert.Equal(1u, first.Properties.Number(Prop.PayloadFormatIndicator));
        Assert.Equal("application/json; charset=utf-8", first.Properties.Text(Prop.ContentType));
        var second = await subscriber.ExpectPublish5Async();
        Assert.Equal(0u, second.Properties.Number(Prop.PayloadFormatIndicator));
        Assert.Equal("", second.Properties.Text(Prop.ContentType));
    }

    [Fact]
    public async Task MQTT_3_3_2_PublishWithoutPropertiesIsForwardedWithoutProperties()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 0);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "plain");
        var got = await subscriber.ExpectPublish5Async();
        Assert.Empty(got.Properties.Items);
    }

    [Fact]
    public async Task MQTT_3_3_2_InvalidUtf8WithPayloadFormat1GetsPayloadFormatInvalid()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.SendAsync(Packets5.Publish(topic, new byte[] { 0x61, 0xC3, 0x28 }, qos: 1, packetId: 5, properties: new Props().Byte(Prop.PayloadFormatIndicator, 1)));
        var ack = await publisher.ExpectAck5Async(PacketKind.PubAck, 5);
        Assert.Equal(0x99, ack.ReasonCode);
        // Not delivered.
        await publisher.Publish5Async(topic, "marker", 1);
        await subscriber.ExpectPayload5Async("marker");
    }

    [Fact]
    public async Task MQTT_3_3_2_6_MessageExpiryIsForwardedToOnlineSubscriber()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "expires", 1, new Props().U32(Prop.MessageExpiryInterval, 60));
        var got = await subscriber.ExpectPayload5Async("expires");
        var remaining = got.Properties.Number(Prop.MessageExpiryInterval);
        Assert.NotNull(remaining);
        Assert.InRange(remaining.Value, 58u, 60u);
    }

    [Fact]
    public async Task MQTT_3_3_2_6_ForwardedExpiryIsReducedByTimeWaitingInServer()
    {
        // Own server on a fake clock: the expiry interval passes when the test advances it, not in real time.
        var clock = new FakeTimeProvider();
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = clock });
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await server.Connect5Async(id, sessionExpiry: 300))
        {
            await client.Subscribe5GrantedAsync(topic, 1);
            await client.Disconnect5Async();
        }

        await using (var publisher = await server.Connect5Async(Names.ClientId("pub")))
        {
            await publisher.Publish5Async(topic, "waited", 1, new Props().U32(Prop.MessageExpiryInterval, 60));
        }

        // The interval is in whole seconds: the message has to wait more than one for the reduction to show.
        clock.Advance(TimeSpan.FromSeconds(2.1));
        await using var again = await server.Connect5Async(id, cleanStart: false, sessionExpiry: 300);
        var got = await again.ExpectPayload5Async("waited");
        var remaining = got.Properties.Number(Prop.MessageExpiryInterval);
        Assert.NotNull(remaining);
        Assert.InRange(remaining.Value, 55u, 58u);
    }

    [Fact]
    public async Task MQTT_3_3_2_5_ExpiredMessageIsNotDeliveredToReconnectingSubscriber()
    {
        // Own server on a fake clock: the expiry interval passes when the test advances it, not in real time.
        var clock = new FakeTimeProvider();
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = clock });
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await server.Connect5Async(id, sessionExpiry: 300))
        {
            await client.Subscribe5GrantedAsync(topic, 1);
            await client.Disconnect5Async();
        }

        await using (var publisher = await server.Connect5Async(Names.ClientId("pub")))
        {
            await publisher.Publish5Async(topic, "short-lived", 1, new Props().U32(Prop.MessageExpiryInterval, 1));
            await publisher.Publish5Async(topic, "long-lived", 1, new Props().U32(Prop.MessageExpiryInterval, 600));
        }

        // The 1 s interval must run out while the client is away.
        clock.Advance(TimeSpan.FromSeconds(2.1));
        await using var again = await server.Connect5Async(id, cleanStart: false, sessionExpiry: 300);
        await again.ExpectPayload5Async("long-lived");
    }

    [Fact]
    public async Task MQTT_3_3_2_5_ExpiredRetainedMessageIsNotSentToNewSubscribers()
    {
        // Own server on a fake clock: the expiry interval passes when the test advances it, not in real time.
        var clock = new FakeTimeProvider();
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = clock });
        var topic = Names.Topic();
        await using (var publisher = await server.Connect5Async(Names.ClientId("pub")))
        {
            await publisher.Publish5Async(topic, "stale", 1, new Props().U32(Prop.MessageExpiryInterval, 1), retain: true);
            await publisher.Publish5Async(topic + "/fresh", "fresh", 1, new Props().U32(Prop.MessageExpiryInterval, 600), retain: true);
        }

        clock.Advance(TimeSpan.FromSeconds(2.1));
        await using var subscriber = await server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic + "/#", 1);
        var got = await subscriber.ExpectPayload5Async("fresh");
        Assert.True(got.Retain);
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_2_12_TopicAliasIsAcceptedAndResolved()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        // Alias 1 set with the topic, then used with an empty topic name; alias 10 (the maximum) the same.
        await publisher.Publish5Async(topic, "set", 1, new Props().U16(Prop.TopicAlias, 1));
        await publisher.Publish5Async("", "used", 1, new Props().U16(Prop.TopicAlias, 1));
        await publisher.Publish5Async(topic, "set-max", 1, new Props().U16(Prop.TopicAlias, 10));
        await publisher.Publish5Async("", "used-max", 1, new Props().U16(Prop.TopicAlias, 10));

        foreach (var payload in new[] { "set", "used", "set-max", "used-max" })
        {
            var got = await subscriber.ExpectPayload5Async(payload);
            Assert.Equal(topic, got.Topic);
            // The subscriber announced no Topic Alias Maximum: no alias toward it [MQTT-3.1.2-27].
            Assert.False(got.Properties.Has(Prop.TopicAlias), got.ToString());
        }
    }

    [Fact]
    public async Task MQTT_3_3_2_12_TopicAliasCanBeRemapped()
    {
        var a = Names.Topic("a");
        var b = Names.Topic("b");
        await using var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(new Sub(a, 1), new Sub(b, 1));
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(a, "a1", 1, new Props().U16(Prop.TopicAlias, 3));
        await publisher.Publish5Async(b, "b1", 1, new Props().U16(Prop.TopicAlias, 3));
        await publisher.Publish5Async("", "b2", 1, new Props().U16(Prop.TopicAlias, 3));

        Assert.Equal(a, (await subscriber.ExpectPayload5Async("a1")).Topic);
        Assert.Equal(b, (await subscriber.ExpectPayload5Async("b1")).Topic);
        Assert.Equal(b, (await subscriber.ExpectPayload5Async("b2")).Topic);
    }

    [Fact]
    public async Task MQTT_3_3_2_8_TopicAliasZeroIsDisconnected()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(Names.Topic(), "zero", properties: new Props().U16(Prop.TopicAlias, 0)));
        // Table 2-6 words 0x94 as "greater than the maximum"; alias 0 is just forbidden, so 0x82 fits as well.
        var disconnect = await client.ExpectDisconnect5Async();
        Assert.True(disconnect.ReasonCode is 0x94 or 0x82, disconnect.ToString());
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_2_9_TopicAliasAboveMaximumIsDisconnected0x94()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(Names.Topic(), "eleven", properties: new Props().U16(Prop.TopicAlias, 11)));
        await client.ExpectDisconnect5Async(0x94);
    }

    [Fact]
    public async Task MQTT_3_3_2_UnknownTopicAliasWithEmptyTopicIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish("", "unset", properties: new Props().U16(Prop.TopicAlias, 2)));
        await client.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_3_2_EmptyTopicWithoutAliasIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish("", "no-topic"));
        await client.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_3_2_7_TopicAliasesDoNotCarryOverToNextConnection()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var first = await Server.Connect5Async(id, sessionExpiry: 300))
        {
            await first.Publish5Async(topic, "set", 1, new Props().U16(Prop.TopicAlias, 4));
            await first.Disconnect5Async();
        }

        await using var second = await Server.Connect5Async(id, cleanStart: false, sessionExpiry: 300);
        await second.SendAsync(Packets5.Publish("", "stale-alias", properties: new Props().U16(Prop.TopicAlias, 4)));
        await second.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_3_4_6_SubscriptionIdentifierFromClientIsNotForwarded()
    {
        // [MQTT-3.3.4-6] binds the client; the standard names no server reaction. Starling ignores the identifier and
        // never passes it on: subscribers only ever see their own subscription identifiers.
        var topic = Names.Topic();
        await using var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, 1);
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Publish5Async(topic, "sub-id", 1, new Props().VarInt(Prop.SubscriptionIdentifier, 3));
        var got = await subscriber.ExpectPayload5Async("sub-id");
        Assert.Empty(got.Properties.Numbers(Prop.SubscriptionIdentifier));
    }

    [Fact]
    public async Task MQTT_2_2_2_DuplicatePublishPropertyIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(Names.Topic(), "dup", properties: new Props().Str(Prop.ContentType, "a").Str(Prop.ContentType, "b")));
        await client.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_4_13_1_1_MalformedPublishGetsDisconnect0x81()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        // Property length 5, but only one property byte follows before the packet ends.
        var body = new ByteBuilder().Str(Names.Topic()).U8(5).U8(Prop.PayloadFormatIndicator).ToArray();
        await client.SendAsync(ByteBuilder.Frame(0x30, body));
        await client.ExpectDisconnect5Async(0x81);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_4_PublishWithQos3GetsDisconnect0x81()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(Names.Topic(), "qos3", qos: 3, packetId: 1));
        await client.ExpectDisconnect5Async(0x81);
    }

    [Fact]
    public async Task MQTT_3_3_2_2_WildcardInTopicNameIsDisconnected()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish("conf/+/x", "wild"));
        var disconnect = await client.ExpectDisconnect5Async();
        Assert.True(disconnect.ReasonCode is 0x90 or 0x82 or 0x81, disconnect.ToString());
    }

    [Fact]
    public async Task MQTT_3_1_2_24_MQTT_3_1_2_25_MessageLargerThanClientMaximumIsNotSent()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 1, new Props().U32(Prop.MaximumPacketSize, 128));
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, new string('x', 300), 1);
        await publisher.Publish5Async(topic, "small", 1);
        var got = await subscriber.ExpectPayload5Async("small");
        Assert.True(got.Properties.Items.Count == 0);
    }

    [Fact]
    public async Task MQTT_3_1_2_25_DroppedTooLargeMessageIsNotResentAfterReconnect()
    {
        var id = Names.ClientId("sub");
        var topic = Names.Topic();
        var connect = new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 300).U32(Prop.MaximumPacketSize, 128) };
        await using (var subscriber = await Server.Connect5Async(connect))
        {
            await subscriber.Subscribe5GrantedAsync(topic, 1);
            await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
            await publisher.Publish5Async(topic, new string('x', 300), 1);
            await publisher.Publish5Async(topic, "small", 1);
            // Received but not acknowledged, so it is resent on reconnect; the large one was "completed" at once.
            Assert.Equal("small", (await subscriber.ExpectPublish5Async()).Text);
            subscriber.CloseAbruptly();
        }

        await using var again = await Server.Connect5Async(connect);
        var resent = await again.ExpectPayload5Async("small");
        Assert.True(resent.Dup);
        await again.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_4_9_ServerRespectsClientReceiveMaximum()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 1, new Props().U16(Prop.ReceiveMaximum, 2));
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        for (var i = 1; i <= 5; i++)
        {
            await publisher.Publish5Async(topic, "m" + i, 1);
        }

        var first = await subscriber.ExpectPublish5Async();
        var second = await subscriber.ExpectPublish5Async();
        Assert.Equal(["m1", "m2"], new[] { first.Text, second.Text });
        // [MQTT-3.3.4-10], [MQTT-4.9.0-3]: other packets still flow while the quota is zero.
        await subscriber.PingAsync();
        await subscriber.ExpectNothingAsync();

        await subscriber.Acknowledge5Async(first);
        Assert.Equal("m3", (await subscriber.ExpectPublish5Async()).Text);
        await subscriber.ExpectNothingAsync();
        await subscriber.Acknowledge5Async(second);
        Assert.Equal("m4", (await subscriber.ExpectPayload5Async("m4")).Text);
        await subscriber.ExpectPayload5Async("m5");
    }

    [Fact]
    public async Task MQTT_3_1_2_26_NoTopicAliasAboveClientMaximum()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 0, new Props().U16(Prop.TopicAliasMaximum, 2));
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        for (var i = 0; i < 5; i++)
        {
            await publisher.Publish5Async(topic, "n" + i);
        }

        for (var i = 0; i < 5; i++)
        {
            var got = await subscriber.ExpectPublish5Async();
            var alias = got.Properties.Number(Prop.TopicAlias);
            Assert.True(alias is null or (>= 1 and <= 2), got.ToString());
            Assert.True(got.Topic.Length > 0 || alias is not null, got.ToString());
        }
    }

    [Fact]
    public async Task MQTT_3_3_1_2_Qos0DeliveryHasDup0AndNoPacketId()
    {
        var topic = Names.Topic();
        await using var subscriber = await SubscriberAsync(topic, qos: 0);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, Encoding.UTF8.GetString([0x68, 0x69]));
        var got = await subscriber.ExpectPublish5Async();
        Assert.Equal(0, got.Qos);
        Assert.False(got.Dup);
        Assert.Equal(0x30, got.Header);
    }
}
