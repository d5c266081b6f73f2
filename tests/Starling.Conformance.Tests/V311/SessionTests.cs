using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 3.1.2.4, 4.1 and 4.4: clean session, persistent sessions and redelivery.</summary>
public sealed class SessionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task DisconnectAsync(RawMqttClient client)
    {
        await client.SendAsync(RawPackets.Disconnect());
        await client.ExpectClosedAsync();
    }

    private async Task PublishAsync(string topic, string payload, int qos)
    {
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, payload, qos);
    }

    [Fact]
    public async Task MQTT_3_1_2_4_PersistentSessionKeepsSubscriptions()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await DisconnectAsync(client);
        }

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        await PublishAsync(topic, "still-subscribed", 1);
        Assert.Equal(1, (await again.ExpectPayloadAsync("still-subscribed")).Qos);
    }

    [Fact]
    public async Task MQTT_3_1_2_5_Qos1And2MessagesAreQueuedWhileOffline()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 2));
            await DisconnectAsync(client);
        }

        await PublishAsync(topic, "q1", 1);
        await PublishAsync(topic, "q2", 2);

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        var first = await again.ExpectPayloadAsync("q1");
        Assert.Equal(1, first.Qos);
        var second = await again.ExpectPayloadAsync("q2");
        Assert.Equal(2, second.Qos);
        await again.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_5_MessagesQueuedAfterAbruptClose()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            client.CloseAbruptly();
        }

        await PublishAsync(topic, "while-away", 1);

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        await again.ExpectPayloadAsync("while-away");
    }

    [Fact]
    public async Task Starling_Qos0MessagesAreNotQueuedWhileOffline()
    {
        // Queuing QoS 0 for offline sessions is optional; Starling's default (QueueQoS0Messages=false) drops them.
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await DisconnectAsync(client);
        }

        await PublishAsync(topic, "qos0-dropped", 0);
        await PublishAsync(topic, "qos1-kept", 1);

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        await again.ExpectPayloadAsync("qos1-kept");
        await again.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_6_CleanSessionDiscardsPreviousSession()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await DisconnectAsync(client);
        }

        await PublishAsync(topic, "queued-then-discarded", 1);

        await using (var clean = await Server.ConnectAsync(id, cleanSession: true))
        {
            var marker = Names.Topic("marker");
            await clean.SubscribeGrantedAsync((marker, 1));
            await PublishAsync(topic, "old-subscription", 1);
            await PublishAsync(marker, "marker", 1);
            // Neither the queued message nor the old subscription survived.
            await clean.ExpectPayloadAsync("marker");
            await DisconnectAsync(clean);
        }

        var (after, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (after)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_6_CleanSessionStateEndsWithConnection()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var clean = await Server.ConnectAsync(id, cleanSession: true))
        {
            await clean.SubscribeGrantedAsync((topic, 1));
            clean.CloseAbruptly();
        }

        await using (var probe = await Server.ConnectAsync(id, cleanSession: true))
        {
            await probe.PingAsync();
            await DisconnectAsync(probe);
        }

        await PublishAsync(topic, "nobody-home", 1);

        var (after, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (after)
        {
            Assert.False(ack.SessionPresent);
            await after.ExpectNothingAsync();
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MQTT_4_4_0_1_UnacknowledgedPublishIsResentWithDupOnReconnect(int qos)
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        ReceivedPublish original;
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, qos));
            await PublishAsync(topic, "unacked", qos);
            original = await client.ExpectPublishAsync();
            Assert.False(original.Dup);
            client.CloseAbruptly();
        }

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        var resent = await again.ExpectPublishAsync();
        Assert.True(resent.Dup);
        Assert.Equal(original.PacketId, resent.PacketId);
        Assert.Equal(original.Qos, resent.Qos);
        Assert.Equal(original.Topic, resent.Topic);
        Assert.Equal("unacked", resent.Text);
        await again.AcknowledgeAsync(resent);
        await again.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_4_4_0_1_UnacknowledgedPubRelIsResentOnReconnect()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        ushort packetId;
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 2));
            await PublishAsync(topic, "half-way", 2);
            var delivered = await client.ExpectPublishAsync();
            packetId = delivered.PacketId;
            await client.SendAsync(RawPackets.PubRec(packetId));
            await client.ExpectAckAsync(PacketKind.PubRel, packetId);
            client.CloseAbruptly(); // no PUBCOMP
        }

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        // The PUBREL again, and not the PUBLISH: that must not be re-sent once PUBREL went out [MQTT-4.3.3-1].
        await again.ExpectAckAsync(PacketKind.PubRel, packetId);
        await again.SendAsync(RawPackets.PubComp(packetId));
        await again.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_4_1_0_1_InboundQos2StateSurvivesReconnect()
    {
        var id = Names.ClientId("pub");
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));

        await using (var publisher = await Server.ConnectAsync(id, cleanSession: false))
        {
            await publisher.SendAsync(RawPackets.Publish(topic, "exactly-once", qos: 2, packetId: 21));
            await publisher.ExpectAckAsync(PacketKind.PubRec, 21);
            publisher.CloseAbruptly(); // no PUBREL yet
        }

        await using (var again = await Server.ConnectAsync(id, cleanSession: false))
        {
            // A duplicate of the PUBLISH (still before PUBREL: acknowledged, not delivered again), then the PUBREL.
            await again.SendAsync(RawPackets.Publish(topic, "exactly-once", qos: 2, dup: true, packetId: 21));
            await again.ExpectAckAsync(PacketKind.PubRec, 21);
            await again.SendAsync(RawPackets.PubRel(21));
            await again.ExpectAckAsync(PacketKind.PubComp, 21);
            await again.PublishAsync(topic, "marker", qos: 2);
        }

        await subscriber.ExpectPayloadAsync("exactly-once");
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_4_6_0_1_UnacknowledgedMessagesAreResentInOriginalOrder()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        var originals = new List<ReceivedPublish>();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 2));
            await using (var publisher = await Server.ConnectAsync(Names.ClientId("pub")))
            {
                for (var i = 0; i < 5; i++)
                {
                    await publisher.PublishAsync(topic, $"m{i}", qos: i % 2 + 1);
                }
            }

            for (var i = 0; i < 5; i++)
            {
                originals.Add(await client.ExpectPublishAsync());
            }

            client.CloseAbruptly();
        }

        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], originals.Select(p => p.Text));
        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        for (var i = 0; i < 5; i++)
        {
            var resent = await again.ExpectPublishAsync();
            Assert.Equal($"m{i}", resent.Text);
            Assert.True(resent.Dup);
            Assert.Equal(originals[i].PacketId, resent.PacketId);
        }
    }

    [Fact]
    public async Task MQTT_4_4_0_1_MessagesQueuedWhileOfflineFollowResentOnes()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await PublishAsync(topic, "sent-not-acked", 1);
            await client.ExpectPublishAsync();
            client.CloseAbruptly();
        }

        await PublishAsync(topic, "queued", 1);

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        var resent = await again.ExpectPayloadAsync("sent-not-acked");
        Assert.True(resent.Dup);
        await again.ExpectPayloadAsync("queued");
    }
}
