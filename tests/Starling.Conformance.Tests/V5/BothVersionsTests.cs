using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>
/// The 3.1.1 behaviours that MQTT 5.0 keeps (same statement numbers or their 5.0 equivalents), run for both protocol
/// levels: 4 (3.1.1, packets from <see cref="RawPackets"/>) and 5 (packets from <see cref="Packets5"/>). Where 5.0 adds
/// a DISCONNECT with a reason code before the close, the 5.0 run checks it.
/// </summary>
public sealed class BothVersionsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    /// <summary>A received message in version-neutral form.</summary>
    private sealed record Got(string Topic, string Text, int Qos, bool Retain, bool Dup, ushort PacketId);

    private async Task<RawMqttClient> ConnectAsync(int version, string id, bool persistent = false, ushort keepAlive = 60, WillSpec5? will = null)
    {
        if (version == 5)
        {
            return await Server.Connect5Async(new Connect5
            {
                ClientId = id,
                CleanStart = !persistent,
                KeepAlive = keepAlive,
                Properties = persistent ? new Props().U32(Prop.SessionExpiryInterval, 300) : Props.None,
                Will = will,
            });
        }

        return await Server.ConnectAsync(new ConnectSpec
        {
            ClientId = id,
            CleanSession = !persistent,
            KeepAlive = keepAlive,
            Will = will is null ? null : new WillSpec(will.Topic, will.Payload, will.Qos, will.Retain),
        });
    }

    private static async Task SubscribeAsync(int version, RawMqttClient client, string filter, int qos)
    {
        if (version == 5)
        {
            await client.Subscribe5GrantedAsync(filter, qos);
        }
        else
        {
            await client.SubscribeGrantedAsync((filter, qos));
        }
    }

    private static async Task PublishAsync(int version, RawMqttClient client, string topic, string payload, int qos = 0, bool retain = false)
    {
        if (version == 5)
        {
            var ack = await client.Publish5Async(topic, payload, qos, retain: retain);
            Assert.True(ack is null || ack.ReasonCode is 0x00 or 0x10, ack?.ToString());
        }
        else
        {
            await client.PublishAsync(topic, payload, qos, retain);
        }
    }

    /// <summary>The next PUBLISH, acknowledged.</summary>
    private static async Task<Got> ReceiveAsync(int version, RawMqttClient client, bool acknowledge = true)
    {
        if (version == 5)
        {
            var p = await client.ExpectPublish5Async();
            if (acknowledge)
            {
                await client.Acknowledge5Async(p);
            }

            return new Got(p.Topic, p.Text, p.Qos, p.Retain, p.Dup, p.PacketId);
        }

        var q = await client.ExpectPublishAsync();
        if (acknowledge)
        {
            await client.AcknowledgeAsync(q);
        }

        return new Got(q.Topic, q.Text, q.Qos, q.Retain, q.Dup, q.PacketId);
    }

    private static async Task ExpectClosedAsync(int version, RawMqttClient client, byte v5Reason)
    {
        if (version == 5)
        {
            await client.ExpectDisconnect5Async(v5Reason);
        }
        else
        {
            await client.ExpectClosedAsync();
        }
    }

    private static async Task DisconnectAsync(int version, RawMqttClient client)
    {
        await client.SendAsync(version == 5 ? Packets5.Disconnect() : RawPackets.Disconnect());
        await client.ExpectClosedAsync();
    }

    [Theory]
    [InlineData(4, 0)]
    [InlineData(4, 1)]
    [InlineData(4, 2)]
    [InlineData(5, 0)]
    [InlineData(5, 1)]
    [InlineData(5, 2)]
    public async Task MQTT_4_3_PublishSubscribeRoundTripAtEachQos(int version, int qos)
    {
        var topic = Names.Topic();
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 2);
        await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
        await PublishAsync(version, publisher, topic, "hello", qos);
        var got = await ReceiveAsync(version, subscriber);
        Assert.Equal((topic, "hello", qos, false, false), (got.Topic, got.Text, got.Qos, got.Retain, got.Dup));
        Assert.True(qos == 0 ? got.PacketId == 0 : got.PacketId != 0);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_3_1_5_RetainedMessageIsSentToNewSubscriberWithRetain1(int version)
    {
        var topic = Names.Topic();
        await using (var publisher = await ConnectAsync(version, Names.ClientId("pub")))
        {
            await PublishAsync(version, publisher, topic, "old", 1, retain: true);
            await PublishAsync(version, publisher, topic, "kept", 1, retain: true);
        }

        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 1);
        var got = await ReceiveAsync(version, subscriber);
        Assert.Equal(("kept", true), (got.Text, got.Retain));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_3_1_6_EmptyRetainedMessageClearsRetained(int version)
    {
        var topic = Names.Topic();
        await using (var publisher = await ConnectAsync(version, Names.ClientId("pub")))
        {
            await PublishAsync(version, publisher, topic, "kept", 1, retain: true);
            await PublishAsync(version, publisher, topic, "", 1, retain: true);
            await PublishAsync(version, publisher, topic + "/marker", "marker", 1, retain: true);
        }

        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        // "t/#" also matches "t" itself.
        await SubscribeAsync(version, subscriber, topic + "/#", 1);
        Assert.Equal("marker", (await ReceiveAsync(version, subscriber)).Text);
        await subscriber.ExpectNothingAsync();
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_1_2_8_WillIsPublishedOnAbnormalClose(int version)
    {
        var topic = Names.Topic("will");
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 1);
        await using var client = await ConnectAsync(version, Names.ClientId("w"), will: new WillSpec5(topic, "gone", 1));
        client.CloseAbruptly();
        Assert.Equal("gone", (await ReceiveAsync(version, subscriber)).Text);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_1_2_5_PersistentSessionQueuesWhileOffline(int version)
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await ConnectAsync(version, id, persistent: true))
        {
            await SubscribeAsync(version, client, topic, 2);
            await DisconnectAsync(version, client);
        }

        await using (var publisher = await ConnectAsync(version, Names.ClientId("pub")))
        {
            await PublishAsync(version, publisher, topic, "one", 1);
            await PublishAsync(version, publisher, topic, "two", 2);
        }

        await using var again = await ConnectAsync(version, id, persistent: true);
        Assert.Equal(("one", 1), await ReceiveAsync(version, again) is var a ? (a.Text, a.Qos) : default);
        Assert.Equal(("two", 2), await ReceiveAsync(version, again) is var b ? (b.Text, b.Qos) : default);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_4_4_0_1_UnacknowledgedPublishIsResentWithDupAndSameId(int version)
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        ushort packetId;
        await using (var client = await ConnectAsync(version, id, persistent: true))
        {
            await SubscribeAsync(version, client, topic, 1);
            await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
            await PublishAsync(version, publisher, topic, "unacked", 1);
            packetId = (await ReceiveAsync(version, client, acknowledge: false)).PacketId;
            client.CloseAbruptly();
        }

        await using var again = await ConnectAsync(version, id, persistent: true);
        var resent = await ReceiveAsync(version, again);
        Assert.Equal(("unacked", true, packetId), (resent.Text, resent.Dup, resent.PacketId));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_4_6_0_5_MessagesArriveInPublishOrder(int version)
    {
        var topic = Names.Topic();
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 1);
        await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
        for (var i = 0; i < 30; i++)
        {
            await PublishAsync(version, publisher, topic, "m" + i, 1);
        }

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal("m" + i, (await ReceiveAsync(version, subscriber)).Text);
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_4_7_2_1_WildcardsDoNotMatchDollarTopics(int version)
    {
        // "+" at the first level must not match "$x"; the level after it is unique so no other test's traffic matches.
        var unique = Guid.NewGuid().ToString("N");
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, "+/" + unique, 0);
        await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
        await PublishAsync(version, publisher, "$x/" + unique, "dollar", 1);
        await PublishAsync(version, publisher, "conf/" + unique, "marker", 1);
        Assert.Equal("conf/" + unique, (await ReceiveAsync(version, subscriber)).Topic);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_8_4_OverlappingSubscriptionsGiveOneCopyAtHighestQos(int version)
    {
        var parent = Names.Topic();
        var topic = parent + "/leaf";
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 0);
        await SubscribeAsync(version, subscriber, parent + "/#", 2);
        await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
        await PublishAsync(version, publisher, topic, "overlap", 2);
        Assert.Equal(2, (await ReceiveAsync(version, subscriber)).Qos);
        await subscriber.ExpectNothingAsync();
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_12_4_1_PingReqGetsPingResp(int version)
    {
        await using var client = await ConnectAsync(version, Names.ClientId());
        await client.SendAsync(RawPackets.PingReq());
        var frame = await client.ExpectPacketAsync(PacketKind.PingResp);
        Assert.Equal(0xD0, frame.Header);
        Assert.Empty(frame.Body);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_1_0_2_SecondConnectClosesConnection(int version)
    {
        var id = Names.ClientId();
        await using var client = await ConnectAsync(version, id);
        await client.SendAsync(version == 5 ? Packets5.Connect(new Connect5 { ClientId = id }) : RawPackets.Connect(id));
        await ExpectClosedAsync(version, client, 0x82);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_1_4_3_TakeoverClosesExistingConnection(int version)
    {
        var id = Names.ClientId();
        await using var first = await ConnectAsync(version, id);
        await using var second = await ConnectAsync(version, id);
        await ExpectClosedAsync(version, first, 0x8E);
        await second.PingAsync();
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_1_2_22_KeepAliveTimeoutClosesConnection(int version)
    {
        await using var client = await ConnectAsync(version, Names.ClientId(), keepAlive: 1);
        if (version == 5)
        {
            await client.ExpectDisconnect5Async(0x8D, TimeSpan.FromSeconds(5));
        }
        else
        {
            await client.ExpectClosedAsync(TimeSpan.FromSeconds(5));
        }
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_1_5_4_1_InvalidUtf8TopicClosesConnection(int version)
    {
        await using var client = await ConnectAsync(version, Names.ClientId());
        var topic = new byte[] { 0x61, 0xED, 0xA0, 0x80 }; // a surrogate code point
        var body = new ByteBuilder().Prefixed(topic);
        if (version == 5)
        {
            body.U8(0);
        }

        await client.SendAsync(ByteBuilder.Frame(0x30, body.Raw("x"u8).ToArray()));
        await ExpectClosedAsync(version, client, 0x81);
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_3_10_4_UnsubscribeStopsDelivery(int version)
    {
        var topic = Names.Topic();
        var marker = Names.Topic("marker");
        await using var client = await ConnectAsync(version, Names.ClientId());
        await SubscribeAsync(version, client, topic, 1);
        await SubscribeAsync(version, client, marker, 1);
        var id = client.NextPacketId();
        await client.SendAsync(version == 5 ? Packets5.Unsubscribe(id, topic) : RawPackets.Unsubscribe(id, topic));
        await client.ExpectDeferringPublishesAsync(PacketKind.UnsubAck);
        await using var publisher = await ConnectAsync(version, Names.ClientId("pub"));
        await PublishAsync(version, publisher, topic, "gone", 1);
        await PublishAsync(version, publisher, marker, "marker", 1);
        Assert.Equal("marker", (await ReceiveAsync(version, client)).Text);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    public async Task MQTT_4_3_3_10_Qos2DuplicateBeforePubRelIsDeliveredOnce(int version)
    {
        var topic = Names.Topic();
        await using var subscriber = await ConnectAsync(version, Names.ClientId("sub"));
        await SubscribeAsync(version, subscriber, topic, 0);
        await using var client = await ConnectAsync(version, Names.ClientId());
        byte[] Publish(bool dup) => version == 5
            ? Packets5.Publish(topic, "once", qos: 2, packetId: 11, dup: dup)
            : RawPackets.Publish(topic, "once", qos: 2, dup: dup, packetId: 11);
        await client.SendAsync(Publish(false));
        await client.ExpectDeferringPublishesAsync(PacketKind.PubRec);
        await client.SendAsync(Publish(true));
        await client.ExpectDeferringPublishesAsync(PacketKind.PubRec);
        await client.SendAsync(version == 5 ? Packets5.Ack(PacketKind.PubRel, 11) : RawPackets.PubRel(11));
        await client.ExpectDeferringPublishesAsync(PacketKind.PubComp);
        Assert.Equal("once", (await ReceiveAsync(version, subscriber)).Text);
        await subscriber.ExpectNothingAsync();
    }
}
