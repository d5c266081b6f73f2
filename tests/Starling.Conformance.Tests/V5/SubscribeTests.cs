using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>MQTT 5.0 sections 3.8 to 3.11: subscription options, subscription identifiers and reason codes.</summary>
public sealed class SubscribeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task PublishAsync(string topic, string payload, int qos = 1, bool retain = false, Props? props = null)
    {
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, payload, qos, props, retain);
    }

    [Fact]
    public async Task MQTT_3_8_3_3_NoLocalSuppressesOwnMessages()
    {
        var topic = Names.Topic();
        var marker = Names.Topic("marker");
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, NoLocal: true), new Sub(marker, 1));
        await client.Publish5Async(topic, "own", 1);
        await PublishAsync(topic, "other");
        await client.ExpectPayload5Async("other");
        await client.Publish5Async(marker, "own-marker", 1);
        await client.ExpectPayload5Async("own-marker");
    }

    [Fact]
    public async Task MQTT_3_8_3_3_WithoutNoLocalOwnMessagesAreDelivered()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(topic, 1);
        await client.Publish5Async(topic, "own", 1);
        await client.ExpectPayload5Async("own");
    }

    [Fact]
    public async Task MQTT_3_3_1_12_RetainAsPublished0ClearsRetainOnForward()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainAsPublished: false));
        await PublishAsync(topic, "retained-live", retain: true);
        Assert.False((await client.ExpectPayload5Async("retained-live")).Retain);
    }

    [Fact]
    public async Task MQTT_3_3_1_13_RetainAsPublished1KeepsRetainOnForward()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainAsPublished: true));
        await PublishAsync(topic, "retained-live", retain: true);
        Assert.True((await client.ExpectPayload5Async("retained-live")).Retain);
        await PublishAsync(topic, "plain-live", retain: false);
        Assert.False((await client.ExpectPayload5Async("plain-live")).Retain);
    }

    [Fact]
    public async Task MQTT_3_3_1_9_RetainHandling0SendsRetainedOnEverySubscribe()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "kept", retain: true);
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainHandling: 0));
        Assert.True((await client.ExpectPayload5Async("kept")).Retain);
        // [MQTT-3.8.4-4]: re-subscribing with Retain Handling 0 sends the retained messages again.
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainHandling: 0));
        Assert.True((await client.ExpectPayload5Async("kept")).Retain);
    }

    [Fact]
    public async Task MQTT_3_3_1_10_RetainHandling1SendsRetainedOnlyForNewSubscription()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "kept", retain: true);
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainHandling: 1));
        Assert.True((await client.ExpectPayload5Async("kept")).Retain);
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainHandling: 1));
        await client.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_1_11_RetainHandling2NeverSendsRetained()
    {
        var topic = Names.Topic();
        await PublishAsync(topic, "kept", retain: true);
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1, RetainHandling: 2));
        await PublishAsync(topic, "live");
        await client.ExpectPayload5Async("live");
    }

    [Fact]
    public async Task MQTT_3_8_3_5_ReservedSubscriptionOptionBitsAreMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Sub(Names.Topic()) { OptionsOverride = 0x41 }));
        await client.ExpectDisconnect5Async(0x81);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_3_RetainHandling3IsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Sub(Names.Topic()) { OptionsOverride = 0x30 }));
        var disconnect = await client.ExpectDisconnect5Async();
        Assert.True(disconnect.ReasonCode is 0x81 or 0x82, disconnect.ToString());
    }

    [Fact]
    public async Task MQTT_3_8_3_QoS3InSubscriptionOptionsIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Sub(Names.Topic()) { OptionsOverride = 0x03 }));
        var disconnect = await client.ExpectDisconnect5Async();
        Assert.True(disconnect.ReasonCode is 0x81 or 0x82, disconnect.ToString());
    }

    [Fact]
    public async Task MQTT_3_8_1_1_SubscribeWithWrongFlagsIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        var good = Packets5.Subscribe(1, new Sub(Names.Topic()));
        good[0] = 0x80;
        await client.SendAsync(good);
        await client.ExpectDisconnect5Async(0x81);
    }

    [Fact]
    public async Task MQTT_3_8_3_2_SubscribeWithoutFiltersIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1));
        var disconnect = await client.ExpectDisconnect5Async();
        Assert.True(disconnect.ReasonCode is 0x81 or 0x82, disconnect.ToString());
    }

    [Fact]
    public async Task MQTT_3_9_3_1_SubAckHasOneReasonCodePerFilterInOrder()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Subscribe(id, new Sub(Names.Topic(), 2), new Sub(Names.Topic(), 0), new Sub("$share/bad+name/x", 1), new Sub(Names.Topic(), 1)));
        var ack = await client.ExpectAck5Async(PacketKind.SubAck, id);
        Assert.Equal([0x02, 0x00, 0x8F, 0x01], ack.ReasonCodes);
    }

    [Fact]
    public async Task MQTT_3_8_4_3_SubscribingAgainReplacesTheSubscription()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(topic, 2);
        await client.Subscribe5GrantedAsync(topic, 0);
        await PublishAsync(topic, "once", qos: 2);
        var got = await client.ExpectPayload5Async("once");
        Assert.Equal(0, got.Qos);
        await client.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_4_3_SubscriptionIdentifierIsSentWithMatchingMessages()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        var codes = await client.Subscribe5Async(new Props().VarInt(Prop.SubscriptionIdentifier, 268_435_455), new Sub(topic, 1));
        Assert.Equal([1], codes);
        await PublishAsync(topic, "with-id");
        var got = await client.ExpectPayload5Async("with-id");
        Assert.Equal([268_435_455u], got.Properties.Numbers(Prop.SubscriptionIdentifier));
    }

    [Fact]
    public async Task MQTT_3_3_4_4_OverlappingSubscriptionsCarryEveryIdentifier()
    {
        var parent = Names.Topic();
        var topic = parent + "/leaf";
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5Async(new Props().VarInt(Prop.SubscriptionIdentifier, 7), new Sub(topic, 1));
        await client.Subscribe5Async(new Props().VarInt(Prop.SubscriptionIdentifier, 300), new Sub(parent + "/+", 1));
        await client.Subscribe5Async(null, new Sub(parent + "/#", 1));
        await PublishAsync(topic, "overlap");
        var got = await client.ExpectPayload5Async("overlap");
        Assert.Equal([7u, 300u], got.Properties.Numbers(Prop.SubscriptionIdentifier).Order());
        // [MQTT-3.3.4-2]: one copy (Starling sends one PUBLISH for overlapping subscriptions).
        await client.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_4_3_SubscriptionWithoutIdentifierDeliversNone()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(topic, 1);
        await PublishAsync(topic, "no-id");
        Assert.Empty((await client.ExpectPayload5Async("no-id")).Properties.Numbers(Prop.SubscriptionIdentifier));
    }

    [Fact]
    public async Task MQTT_3_8_4_3_ResubscribeReplacesSubscriptionIdentifier()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5Async(new Props().VarInt(Prop.SubscriptionIdentifier, 1), new Sub(topic, 1));
        await client.Subscribe5Async(new Props().VarInt(Prop.SubscriptionIdentifier, 2), new Sub(topic, 1));
        await PublishAsync(topic, "replaced");
        Assert.Equal([2u], (await client.ExpectPayload5Async("replaced")).Properties.Numbers(Prop.SubscriptionIdentifier));
    }

    [Fact]
    public async Task MQTT_3_8_2_SubscriptionIdentifierZeroIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Props().VarInt(Prop.SubscriptionIdentifier, 0), new Sub(Names.Topic())));
        await client.ExpectDisconnect5Async(0x82);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_2_TwoSubscriptionIdentifiersAreProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Props().VarInt(Prop.SubscriptionIdentifier, 1).VarInt(Prop.SubscriptionIdentifier, 2), new Sub(Names.Topic())));
        await client.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_8_4_8_DeliveryQosIsMinimumOfPublishAndGranted()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(topic, 1);
        await PublishAsync(topic, "q2", qos: 2);
        Assert.Equal(1, (await client.ExpectPayload5Async("q2")).Qos);
        await PublishAsync(topic, "q0", qos: 0);
        Assert.Equal(0, (await client.ExpectPayload5Async("q0")).Qos);
    }

    [Fact]
    public async Task MQTT_3_11_3_1_UnsubAckReasonCodesInOrder()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(topic, 1);
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Unsubscribe(id, Names.Topic("never"), topic, topic));
        var ack = await client.ExpectAck5Async(PacketKind.UnsubAck, id);
        // 0x11 No subscription existed, 0x00 Success, then 0x11 again (already removed) [MQTT-3.11.3-2].
        Assert.Equal([0x11, 0x00, 0x11], ack.ReasonCodes);
    }

    [Fact]
    public async Task MQTT_3_10_4_2_UnsubscribeStopsDelivery()
    {
        var topic = Names.Topic();
        var marker = Names.Topic("marker");
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.Subscribe5GrantedAsync(new Sub(topic, 1), new Sub(marker, 1));
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Unsubscribe(id, topic));
        Assert.Equal([0x00], (await client.ExpectAck5Async(PacketKind.UnsubAck, id)).ReasonCodes);
        await PublishAsync(topic, "gone");
        await PublishAsync(marker, "marker");
        await client.ExpectPayload5Async("marker");
    }

    [Fact]
    public async Task MQTT_3_10_1_1_UnsubscribeWithWrongFlagsIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        var packet = Packets5.Unsubscribe(1, Names.Topic());
        packet[0] = 0xA0;
        await client.SendAsync(packet);
        await client.ExpectDisconnect5Async(0x81);
    }
}
