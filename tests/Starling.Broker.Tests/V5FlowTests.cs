using System.Buffers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests;

public class V5FlowTests
{
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    private static string Text(PublishPacket p) => Encoding.UTF8.GetString(p.Payload.ToArray());

    private static async Task<MqttPacket?> NothingWithin(RawMqttClient client, int milliseconds = 200)
    {
        try
        {
            return await client.ReceivePacketAsync(TimeSpan.FromMilliseconds(milliseconds));
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static Task Subscribe(RawMqttClient c, string filter, SubscriptionOptions options, uint subscriptionId = 0, ushort packetId = 1)
        => SubscribeExpect(c, filter, options, subscriptionId, packetId);

    private static async Task<SubAckPacket> SubscribeExpect(RawMqttClient c, string filter, SubscriptionOptions options, uint subscriptionId = 0, ushort packetId = 1)
    {
        await c.SendAsync(new SubscribePacket
        {
            PacketId = packetId,
            Subscriptions = [new TopicSubscription(filter, options)],
            Properties = subscriptionId == 0 ? null : new MqttProperties { SubscriptionIdentifiers = [subscriptionId] },
        });
        return await c.ExpectAsync<SubAckPacket>();
    }

    [Fact]
    public async Task Delayed_will_is_cancelled_when_the_session_resumes_in_time_MQTT_3_1_3_9()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions(), timeProvider: time);
        await using var watcher = RawMqttClient.Attach(broker, V5);
        await watcher.ConnectAsync("w");
        await Subscribe(watcher, "will/#", new SubscriptionOptions(QualityOfService.AtMostOnce));
        var will = new WillMessage { Topic = "will/x", Payload = "bye"u8.ToArray(), Properties = new MqttProperties { WillDelayInterval = 30 } };
        var first = RawMqttClient.Attach(broker, V5);
        await first.ConnectAsync("x", clean: false, will: will, properties: new MqttProperties { SessionExpiryInterval = 600 });
        await first.DropAsync();
        time.Advance(TimeSpan.FromSeconds(10));
        broker.Tick();
        await using var again = RawMqttClient.Attach(broker, V5);
        Assert.True((await again.ConnectAsync("x", clean: false, properties: new MqttProperties { SessionExpiryInterval = 600 })).SessionPresent);
        time.Advance(TimeSpan.FromSeconds(60));
        broker.Tick();
        Assert.Null(await NothingWithin(watcher));
    }

    [Fact]
    public async Task Delayed_will_is_published_when_the_delay_passes()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions(), timeProvider: time);
        await using var watcher = RawMqttClient.Attach(broker, V5);
        await watcher.ConnectAsync("w");
        await Subscribe(watcher, "will/#", new SubscriptionOptions(QualityOfService.AtMostOnce));
        var will = new WillMessage { Topic = "will/y", Payload = "late"u8.ToArray(), Properties = new MqttProperties { WillDelayInterval = 30, ContentType = "text/plain" } };
        var client = RawMqttClient.Attach(broker, V5);
        await client.ConnectAsync("y", clean: false, will: will, properties: new MqttProperties { SessionExpiryInterval = 600 });
        await client.DropAsync();
        time.Advance(TimeSpan.FromSeconds(20));
        broker.Tick();
        Assert.Null(await NothingWithin(watcher));
        time.Advance(TimeSpan.FromSeconds(11));
        broker.Tick();
        var got = await watcher.ExpectAsync<PublishPacket>();
        Assert.Equal(("will/y", "late", "text/plain"), (got.Topic, Text(got), got.Properties?.ContentType));
    }

    [Fact]
    public async Task DISCONNECT_with_reason_0x04_publishes_the_will()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var watcher = RawMqttClient.Attach(broker, V5);
        await watcher.ConnectAsync("w");
        await Subscribe(watcher, "will/#", new SubscriptionOptions(QualityOfService.AtMostOnce));
        var client = RawMqttClient.Attach(broker, V5);
        await client.ConnectAsync("z", will: new WillMessage { Topic = "will/z", Payload = "asked"u8.ToArray() });
        await client.SendAsync(new DisconnectPacket { ReasonCode = ReasonCode.DisconnectWithWillMessage });
        Assert.Equal("asked", Text(await watcher.ExpectAsync<PublishPacket>()));
    }

    [Fact]
    public async Task Shared_subscription_sends_each_message_to_one_member_balanced()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var a = RawMqttClient.Attach(broker, V5);
        await using var b = RawMqttClient.Attach(broker, V5);
        await a.ConnectAsync("a");
        await b.ConnectAsync("b");
        await Subscribe(a, "$share/g/jobs/+", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await Subscribe(b, "$share/g/jobs/+", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        for (var i = 0; i < 10; i++)
        {
            await pub.PublishPacketAsync("jobs/1", $"j{i}", QualityOfService.AtLeastOnce, (ushort)(i + 1));
            await pub.ExpectAsync<PubAckPacket>();
        }
        var seen = new List<string>();
        foreach (var c in new[] { a, b })
        {
            for (var i = 0; i < 5; i++)
            {
                var p = await c.ExpectAsync<PublishPacket>();
                seen.Add(Text(p));
                await c.SendAsync(new PubAckPacket(PacketType.PubAck, p.PacketId));
            }
            Assert.Null(await NothingWithin(c, 100));
        }
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"j{i}").Order(), seen.Order());
    }

    [Fact]
    public async Task Unacknowledged_QoS1_of_a_departed_shared_member_goes_to_another_member()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        var a = RawMqttClient.Attach(broker, V5);
        await using var b = RawMqttClient.Attach(broker, V5);
        await a.ConnectAsync("a");
        await Subscribe(a, "$share/g/work", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("work", "task", QualityOfService.AtLeastOnce, 1);
        await pub.ExpectAsync<PubAckPacket>();
        Assert.Equal("task", Text(await a.ExpectAsync<PublishPacket>()));
        await b.ConnectAsync("b");
        await Subscribe(b, "$share/g/work", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await a.DropAsync(); // never acknowledged
        Assert.Equal("task", Text(await b.ExpectAsync<PublishPacket>()));
    }

    [Fact]
    public async Task Overlapping_subscriptions_give_one_delivery_with_every_subscription_identifier_MQTT_3_3_4_3()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var c = RawMqttClient.Attach(broker, V5);
        await c.ConnectAsync("c");
        await Subscribe(c, "a/#", new SubscriptionOptions(QualityOfService.AtMostOnce), 11, 1);
        await Subscribe(c, "a/+", new SubscriptionOptions(QualityOfService.AtLeastOnce), 22, 2);
        await c.PublishPacketAsync("a/b", "x", QualityOfService.AtLeastOnce, 5);
        // The PUBACK for our own publish and the delivery may come in either order.
        var packets = new[] { await c.ReceivePacketAsync(), await c.ReceivePacketAsync() };
        var got = Assert.Single(packets.OfType<PublishPacket>());
        Assert.Single(packets.OfType<PubAckPacket>());
        Assert.Equal(QualityOfService.AtLeastOnce, got.QoS);
        Assert.Equal(new uint[] { 11, 22 }, got.Properties?.SubscriptionIdentifiers?.Order());
    }

    [Fact]
    public async Task No_Local_keeps_own_messages_away_and_Retain_As_Published_keeps_the_flag_MQTT_3_8_3_3()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var c = RawMqttClient.Attach(broker, V5);
        await c.ConnectAsync("c");
        await Subscribe(c, "nl", new SubscriptionOptions(QualityOfService.AtMostOnce, NoLocal: true), 0, 1);
        await Subscribe(c, "rap", new SubscriptionOptions(QualityOfService.AtMostOnce, RetainAsPublished: true), 0, 2);
        await c.PublishPacketAsync("nl", "mine");
        await c.PublishPacketAsync("rap", "kept", retain: true);
        var got = await c.ExpectAsync<PublishPacket>();
        Assert.Equal(("rap", true), (got.Topic, got.Retain));
    }

    [Theory]
    [InlineData(RetainHandling.SendAtSubscribe, true, true)]
    [InlineData(RetainHandling.SendAtSubscribeIfNew, true, false)]
    [InlineData(RetainHandling.DoNotSend, false, false)]
    public async Task Retain_handling_decides_when_retained_messages_are_sent(RetainHandling handling, bool onFirst, bool onRepeat)
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var c = RawMqttClient.Attach(broker, V5);
        await c.ConnectAsync("c");
        await c.PublishPacketAsync("r/1", "kept", retain: true);
        var options = new SubscriptionOptions(QualityOfService.AtMostOnce, RetainHandling: handling);
        await Subscribe(c, "r/#", options, 0, 1);
        Assert.Equal(onFirst, await NothingWithin(c) is PublishPacket);
        await Subscribe(c, "r/#", options, 0, 2);
        Assert.Equal(onRepeat, await NothingWithin(c) is PublishPacket);
    }

    [Fact]
    public async Task Each_subscriber_gets_its_own_subscription_identifier_and_the_message_properties()
    {
        // Outbound properties are built per delivery in a reused object: nothing may leak from one subscriber to the next.
        await using var broker = new MqttBroker(new BrokerOptions { TopicAliasMaximum = 5 });
        var subscribers = new List<RawMqttClient>();
        for (var i = 1; i <= 3; i++)
        {
            var c = RawMqttClient.Attach(broker, V5);
            await c.ConnectAsync("s" + i);
            await Subscribe(c, "props/x", new SubscriptionOptions(QualityOfService.AtLeastOnce), subscriptionId: i == 2 ? 0u : (uint)(100 + i));
            subscribers.Add(c);
        }
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("props/x", "m", QualityOfService.AtLeastOnce, 1, properties: new MqttProperties
        {
            ContentType = "text/plain",
            UserProperties = [new UserProperty("k", "v")],
            TopicAlias = 1,
        });
        await pub.PublishPacketAsync("props/x", "plain");
        for (var i = 1; i <= 3; i++)
        {
            var c = subscribers[i - 1];
            var first = await c.ExpectAsync<PublishPacket>();
            Assert.Equal("text/plain", first.Properties?.ContentType);
            Assert.Equal(("k", "v"), Assert.Single(first.Properties!.UserProperties!) is var u ? (u.Name, u.Value) : default);
            Assert.Null(first.Properties.TopicAlias);
            Assert.Equal(i == 2 ? null : new uint[] { (uint)(100 + i) }, first.Properties.SubscriptionIdentifiers?.ToArray());
            var second = await c.ExpectAsync<PublishPacket>();
            Assert.Equal("plain", Text(second));
            Assert.Null(second.Properties?.ContentType);
            Assert.Null(second.Properties?.UserProperties);
            Assert.Equal(i == 2 ? null : new uint[] { (uint)(100 + i) }, second.Properties?.SubscriptionIdentifiers?.ToArray());
            await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task Inbound_topic_alias_and_topic_switches_are_resolved_and_invalid_alias_disconnects_with_0x94()
    {
        await using var broker = new MqttBroker(new BrokerOptions { TopicAliasMaximum = 5 });
        await using var sub = RawMqttClient.Attach(broker, V5);
        await sub.ConnectAsync("s");
        await Subscribe(sub, "alias/#", new SubscriptionOptions(QualityOfService.AtMostOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        var connAck = await pub.ConnectAsync("p");
        Assert.Equal((ushort)5, connAck.Properties?.TopicAliasMaximum);
        await pub.PublishPacketAsync("alias/one", "1", properties: new MqttProperties { TopicAlias = 3 });
        await pub.PublishPacketAsync("", "2", properties: new MqttProperties { TopicAlias = 3 });
        Assert.Equal("alias/one", (await sub.ExpectAsync<PublishPacket>()).Topic);
        Assert.Equal(("alias/one", "2"), ((await sub.ExpectAsync<PublishPacket>()) is var p ? (p.Topic, Text(p)) : default));
        // The read loop caches the last topic: every switch (back again, same length, non-ASCII, alias) must show.
        string[] topics = ["alias/a", "alias/a", "alias/b", "alias/a", "alias/ä", "alias/ä/x", "", "alias/b"];
        foreach (var topic in topics)
        {
            await pub.PublishPacketAsync(topic, topic, properties: topic.Length == 0 ? new MqttProperties { TopicAlias = 3 } : null);
        }
        foreach (var topic in topics)
        {
            var expected = topic.Length == 0 ? "alias/one" : topic;
            Assert.Equal((expected, topic), ((await sub.ExpectAsync<PublishPacket>()) is var q ? (q.Topic, Text(q)) : default));
        }
        await pub.PublishPacketAsync("alias/two", "3", properties: new MqttProperties { TopicAlias = 6 });
        var disconnect = await pub.ExpectAsync<DisconnectPacket>();
        Assert.Equal(ReasonCode.TopicAliasInvalid, disconnect.ReasonCode);
    }

    [Fact]
    public async Task Payload_not_matching_format_indicator_gets_0x99()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.SendAsync(new PublishPacket
        {
            Topic = "f",
            Payload = new ReadOnlySequence<byte>(new byte[] { 0xC3, 0x28 }),
            QoS = QualityOfService.AtLeastOnce,
            PacketId = 1,
            Properties = new MqttProperties { PayloadFormatIndicator = 1 },
        });
        Assert.Equal(ReasonCode.PayloadFormatInvalid, (await pub.ExpectAsync<PubAckPacket>()).ReasonCode);
    }

    [Fact]
    public async Task Client_Receive_Maximum_limits_unacknowledged_deliveries()
    {
        await using var broker = new MqttBroker(new BrokerOptions { MaxInflightMessages = 100 });
        await using var sub = RawMqttClient.Attach(broker, V5);
        await sub.ConnectAsync("s", properties: new MqttProperties { ReceiveMaximum = 1 });
        await Subscribe(sub, "rm", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("rm", "1", QualityOfService.AtLeastOnce, 1);
        await pub.PublishPacketAsync("rm", "2", QualityOfService.AtLeastOnce, 2);
        var first = await sub.ExpectAsync<PublishPacket>();
        Assert.Null(await NothingWithin(sub));
        await sub.SendAsync(new PubAckPacket(PacketType.PubAck, first.PacketId));
        Assert.Equal("2", Text(await sub.ExpectAsync<PublishPacket>()));
    }

    [Fact]
    public async Task Message_larger_than_client_Maximum_Packet_Size_is_dropped_for_that_client_MQTT_3_1_2_25()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var small = RawMqttClient.Attach(broker, V5);
        await small.ConnectAsync("small", properties: new MqttProperties { MaximumPacketSize = 64 });
        await Subscribe(small, "big", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("big", new string('x', 200), QualityOfService.AtLeastOnce, 1);
        await pub.PublishPacketAsync("big", "fits", QualityOfService.AtLeastOnce, 2);
        Assert.Equal("fits", Text(await small.ExpectAsync<PublishPacket>()));
    }

    [Fact]
    public async Task Redirect_refuses_with_Server_Reference()
    {
        await using var broker = new MqttBroker(new BrokerOptions { ServerReference = "other.example:1883" });
        await using var c = RawMqttClient.Attach(broker, V5);
        var ack = await c.ConnectAsync("c");
        Assert.Equal((ReasonCode.UseAnotherServer, "other.example:1883"), (ack.ReasonCode, ack.Properties?.ServerReference));
        await c.ExpectClosedAsync(allowed: RawMqttClient.AllowDisconnect);
    }

    [Fact]
    public async Task Session_expiry_ends_an_offline_session_MQTT_3_1_2_23()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions(), timeProvider: time);
        var c = RawMqttClient.Attach(broker, V5);
        await c.ConnectAsync("e", clean: false, properties: new MqttProperties { SessionExpiryInterval = 30 });
        await Subscribe(c, "x", new SubscriptionOptions(QualityOfService.AtLeastOnce));
        await c.DropAsync();
        time.Advance(TimeSpan.FromSeconds(29));
        broker.Tick();
        Assert.Equal(1, broker.SessionCount);
        time.Advance(TimeSpan.FromSeconds(2));
        broker.Tick();
        Assert.Equal(0, broker.SessionCount);
        Assert.Equal(0, broker.SubscriptionCount);
        await using var back = RawMqttClient.Attach(broker, V5);
        Assert.False((await back.ConnectAsync("e", clean: false, properties: new MqttProperties { SessionExpiryInterval = 30 })).SessionPresent);
    }

    [Fact]
    public async Task Outbound_topic_aliases_when_enabled_teach_then_reuse_the_alias_MQTT_3_3_2_12()
    {
        await using var broker = new MqttBroker(new BrokerOptions { OutboundTopicAliases = true });
        await using var sub = RawMqttClient.Attach(broker, V5);
        await sub.ConnectAsync("s", properties: new MqttProperties { TopicAliasMaximum = 1 });
        await Subscribe(sub, "ta/#", new SubscriptionOptions(QualityOfService.AtMostOnce));
        await using var pub = RawMqttClient.Attach(broker, V5);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("ta/one", "1");
        await pub.PublishPacketAsync("ta/one", "2");
        await pub.PublishPacketAsync("ta/two", "3");
        var first = await sub.ExpectAsync<PublishPacket>();
        var second = await sub.ExpectAsync<PublishPacket>();
        var third = await sub.ExpectAsync<PublishPacket>();
        Assert.Equal(("ta/one", (ushort?)1), (first.Topic, first.Properties?.TopicAlias));
        Assert.Equal(("", (ushort?)1, "2"), (second.Topic, second.Properties?.TopicAlias, Text(second)));
        // Only one alias allowed: the second topic goes out in full, without an alias.
        Assert.Equal(("ta/two", (ushort?)null), (third.Topic, third.Properties?.TopicAlias));
    }
}
