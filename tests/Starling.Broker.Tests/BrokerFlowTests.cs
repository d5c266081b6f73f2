using System.Buffers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests;

public class BrokerFlowTests
{
    private static string Text(PublishPacket p) => Encoding.UTF8.GetString(p.Payload.ToArray());

    [Fact]
    public async Task QoS1_publish_reaches_subscriber_and_publisher_gets_PUBACK()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var sub = RawMqttClient.Attach(broker);
        await using var pub = RawMqttClient.Attach(broker);
        Assert.Equal(ReasonCode.Success, (await sub.ConnectAsync("sub")).ReasonCode);
        await sub.SubscribeAsync("t/#", QualityOfService.AtLeastOnce);
        await pub.ConnectAsync("pub");
        await pub.PublishPacketAsync("t/1", "hello", QualityOfService.AtLeastOnce, packetId: 7);
        var ack = await pub.ExpectAsync<PubAckPacket>();
        Assert.Equal((PacketType.PubAck, (ushort)7), (ack.Type, ack.PacketId));
        var got = await sub.ExpectAsync<PublishPacket>();
        Assert.Equal(("t/1", "hello", QualityOfService.AtLeastOnce, false), (got.Topic, Text(got), got.QoS, got.Retain));
        Assert.NotEqual(0, got.PacketId);
    }

    [Fact]
    public async Task Inflight_window_holds_back_messages_until_acknowledged()
    {
        await using var broker = new MqttBroker(new BrokerOptions { MaxInflightMessages = 2 });
        await using var sub = RawMqttClient.Attach(broker);
        await using var pub = RawMqttClient.Attach(broker);
        await sub.ConnectAsync("sub");
        await sub.SubscribeAsync("w", QualityOfService.AtLeastOnce);
        await pub.ConnectAsync("pub");
        for (var i = 1; i <= 3; i++)
        {
            await pub.PublishPacketAsync("w", $"m{i}", QualityOfService.AtLeastOnce, packetId: (ushort)i);
            await pub.ExpectAsync<PubAckPacket>();
        }
        var first = await sub.ExpectAsync<PublishPacket>();
        var second = await sub.ExpectAsync<PublishPacket>();
        Assert.Equal(["m1", "m2"], new[] { Text(first), Text(second) });
        // The third waits for a free slot: nothing more until an ack.
        Assert.Null(await ReceiveOrNullAsync(sub, TimeSpan.FromMilliseconds(200)));
        await sub.SendAsync(new PubAckPacket(PacketType.PubAck, first.PacketId));
        Assert.Equal("m3", Text(await sub.ExpectAsync<PublishPacket>()));
    }

    [Fact]
    public async Task Persistent_session_queues_while_offline_and_resends_unacknowledged_with_DUP_MQTT_4_4_0_1()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        var sub = RawMqttClient.Attach(broker);
        Assert.False((await sub.ConnectAsync("keeper", clean: false)).SessionPresent);
        await sub.SubscribeAsync("q", QualityOfService.ExactlyOnce);
        await using var pub = RawMqttClient.Attach(broker);
        await pub.ConnectAsync("pub");
        await pub.PublishPacketAsync("q", "one", QualityOfService.AtLeastOnce, packetId: 1);
        var unacked = await sub.ExpectAsync<PublishPacket>();
        Assert.Equal(QualityOfService.AtLeastOnce, unacked.QoS);
        await sub.DropAsync();
        await pub.PublishPacketAsync("q", "two", QualityOfService.ExactlyOnce, packetId: 2);
        await pub.PublishPacketAsync("q", "zero", QualityOfService.AtMostOnce);
        // The PINGRESP comes after the broker has routed both (one read loop, in order), so "zero" meets the
        // session offline and not the connection below.
        await pub.SendAsync(PingReqPacket.Instance);
        Assert.Equal(PacketType.PubAck, (await pub.ExpectAsync<PubAckPacket>()).Type);
        Assert.Equal(PacketType.PubRec, (await pub.ExpectAsync<PubAckPacket>()).Type);
        await pub.ExpectAsync<PingRespPacket>();
        await using var again = RawMqttClient.Attach(broker);
        Assert.True((await again.ConnectAsync("keeper", clean: false)).SessionPresent);
        var resent = await again.ExpectAsync<PublishPacket>();
        Assert.Equal(("one", true, unacked.PacketId), (Text(resent), resent.Dup, resent.PacketId));
        var queued = await again.ExpectAsync<PublishPacket>();
        Assert.Equal(("two", QualityOfService.ExactlyOnce, false), (Text(queued), queued.QoS, queued.Dup));
        // QoS 0 is not queued for offline sessions by default.
        Assert.Null(await ReceiveOrNullAsync(again, TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Clean_session_discards_state_and_reports_no_session_present_MQTT_3_2_2_1()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        var first = RawMqttClient.Attach(broker);
        await first.ConnectAsync("c", clean: false);
        await first.SubscribeAsync("x", QualityOfService.AtLeastOnce);
        await first.DisposeAsync();
        await using var second = RawMqttClient.Attach(broker);
        Assert.False((await second.ConnectAsync("c", clean: true)).SessionPresent);
        Assert.Equal(0, broker.SubscriptionCount);
    }

    [Fact]
    public async Task Keep_alive_expiry_closes_after_one_and_a_half_periods_and_publishes_will_MQTT_3_1_2_24()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions(), timeProvider: time);
        await using var watcher = RawMqttClient.Attach(broker);
        await watcher.ConnectAsync("watcher");
        await watcher.SubscribeAsync("will/#", QualityOfService.AtLeastOnce);
        var dying = RawMqttClient.Attach(broker);
        await dying.ConnectAsync("dying", keepAlive: 10, will: new WillMessage { Topic = "will/dying", Payload = "gone"u8.ToArray(), QoS = QualityOfService.AtLeastOnce });
        time.Advance(TimeSpan.FromSeconds(14));
        broker.Tick();
        Assert.Equal(2, broker.ConnectedClients); // 14 s < 1.5 x 10 s: still connected
        time.Advance(TimeSpan.FromSeconds(2)); // 16 s > 15 s
        broker.Tick();
        await dying.ExpectClosedAsync(allowed: RawMqttClient.AllowDisconnect);
        var will = await watcher.ExpectAsync<PublishPacket>();
        Assert.Equal(("will/dying", "gone"), (will.Topic, Text(will)));
    }

    [Fact]
    public async Task Connection_that_never_sends_CONNECT_is_closed_after_the_connect_timeout()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions { ConnectTimeout = TimeSpan.FromSeconds(5) }, timeProvider: time);
        var silent = RawMqttClient.Attach(broker);
        time.Advance(TimeSpan.FromSeconds(6));
        broker.Tick();
        await silent.ExpectClosedAsync(allowed: RawMqttClient.AllowDisconnect);
        await silent.Run.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Inbound_QoS2_resent_before_PUBREL_is_delivered_once_MQTT_4_3_3_2()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        await using var sub = RawMqttClient.Attach(broker);
        await using var pub = RawMqttClient.Attach(broker);
        await sub.ConnectAsync("sub");
        await sub.SubscribeAsync("e", QualityOfService.AtMostOnce);
        await pub.ConnectAsync("pub");
        await pub.PublishPacketAsync("e", "once", QualityOfService.ExactlyOnce, packetId: 9);
        Assert.Equal(PacketType.PubRec, (await pub.ExpectAsync<PubAckPacket>()).Type);
        await pub.PublishPacketAsync("e", "once", QualityOfService.ExactlyOnce, packetId: 9, dup: true);
        Assert.Equal(PacketType.PubRec, (await pub.ExpectAsync<PubAckPacket>()).Type);
        await pub.SendAsync(new PubAckPacket(PacketType.PubRel, 9));
        var comp = await pub.ExpectAsync<PubAckPacket>();
        Assert.Equal((PacketType.PubComp, (ushort)9), (comp.Type, comp.PacketId));
        Assert.Equal("once", Text(await sub.ExpectAsync<PublishPacket>()));
        Assert.Null(await ReceiveOrNullAsync(sub, TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Second_connection_with_same_client_id_takes_the_session_over_MQTT_3_1_4_2()
    {
        await using var broker = new MqttBroker(new BrokerOptions());
        var old = RawMqttClient.Attach(broker);
        await old.ConnectAsync("same", clean: false);
        await old.SubscribeAsync("s", QualityOfService.AtLeastOnce);
        await using var fresh = RawMqttClient.Attach(broker);
        Assert.True((await fresh.ConnectAsync("same", clean: false)).SessionPresent);
        await old.ExpectClosedAsync(allowed: RawMqttClient.AllowDisconnect);
        await using var pub = RawMqttClient.Attach(broker);
        await pub.ConnectAsync("p");
        await pub.PublishPacketAsync("s", "to-new", QualityOfService.AtLeastOnce, packetId: 1);
        Assert.Equal("to-new", Text(await fresh.ExpectAsync<PublishPacket>()));
        Assert.Equal(2, broker.SessionCount); // "same" (one session, not two) and "p"
    }

    [Fact]
    public async Task Offline_queue_is_bounded_by_MaxQueuedMessages()
    {
        await using var broker = new MqttBroker(new BrokerOptions { MaxQueuedMessages = 3 });
        var sub = RawMqttClient.Attach(broker);
        await sub.ConnectAsync("slow", clean: false);
        await sub.SubscribeAsync("b", QualityOfService.AtLeastOnce);
        await sub.DropAsync();
        await using var pub = RawMqttClient.Attach(broker);
        await pub.ConnectAsync("p");
        for (var i = 1; i <= 5; i++)
        {
            await pub.PublishPacketAsync("b", $"m{i}", QualityOfService.AtLeastOnce, packetId: (ushort)i);
            await pub.ExpectAsync<PubAckPacket>();
        }
        Assert.Equal(2, broker.Counters.MessagesDroppedQueueFull);
        await using var back = RawMqttClient.Attach(broker);
        await back.ConnectAsync("slow", clean: false);
        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal($"m{i}", Text(await back.ExpectAsync<PublishPacket>()));
        }
    }

    [Fact]
    public async Task Expired_message_is_not_delivered_and_forwarded_expiry_is_reduced_MQTT_3_3_2_5_and_6()
    {
        var time = new FakeTimeProvider();
        await using var broker = new MqttBroker(new BrokerOptions(), timeProvider: time);
        var sub = RawMqttClient.Attach(broker, ProtocolVersion.V500);
        await sub.ConnectAsync("v5sub", clean: false, properties: new MqttProperties { SessionExpiryInterval = 3600 });
        await sub.SubscribeAsync("exp", QualityOfService.AtLeastOnce);
        await sub.DropAsync();
        await using var pub = RawMqttClient.Attach(broker, ProtocolVersion.V500);
        await pub.ConnectAsync("v5pub");
        await pub.PublishPacketAsync("exp", "short", QualityOfService.AtLeastOnce, 1, properties: new MqttProperties { MessageExpiryInterval = 5 });
        await pub.PublishPacketAsync("exp", "long", QualityOfService.AtLeastOnce, 2, properties: new MqttProperties { MessageExpiryInterval = 100 });
        await pub.ExpectAsync<PubAckPacket>();
        await pub.ExpectAsync<PubAckPacket>();
        time.Advance(TimeSpan.FromSeconds(10));
        await using var back = RawMqttClient.Attach(broker, ProtocolVersion.V500);
        await back.ConnectAsync("v5sub", clean: false, properties: new MqttProperties { SessionExpiryInterval = 3600 });
        var got = await back.ExpectAsync<PublishPacket>();
        Assert.Equal("long", Text(got));
        Assert.Equal(90u, got.Properties?.MessageExpiryInterval);
        Assert.Equal(1, broker.Counters.MessagesExpired);
    }

    [Fact]
    public async Task Publisher_burst_waits_for_a_subscriber_that_keeps_reading_instead_of_dropping()
    {
        // 2,000 QoS 0 publishes arrive in one read while the subscriber's queue holds 100: without back-pressure
        // toward the publisher's read loop, all but ~100 would be dropped as QoS 0 backlog.
        await using var broker = new MqttBroker(new BrokerOptions { MaxQueuedMessages = 100 });
        await using var sub = RawMqttClient.Attach(broker);
        await sub.ConnectAsync("reader");
        await sub.SubscribeAsync("burst/#", QualityOfService.AtMostOnce);
        await using var pub = RawMqttClient.Attach(broker);
        await pub.ConnectAsync("flooder");
        await pub.SendManyAsync(Enumerable.Range(0, 2000).Select(i => new PublishPacket
        {
            Topic = "burst/x",
            Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture))),
        }));
        for (var i = 0; i < 2000; i++)
        {
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), Text(await sub.ExpectAsync<PublishPacket>()));
        }
        Assert.Equal(0, broker.Counters.MessagesDroppedQoS0Backlog);
    }

    private static async Task<MqttPacket?> ReceiveOrNullAsync(RawMqttClient client, TimeSpan wait)
    {
        try
        {
            return await client.ReceivePacketAsync(wait);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
