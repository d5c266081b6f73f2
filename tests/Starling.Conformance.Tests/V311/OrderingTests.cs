using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 4.6: message ordering.</summary>
public sealed class OrderingTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task MQTT_4_6_0_2_PubAcksFollowPublishOrder()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var topic = Names.Topic();
        var ids = Enumerable.Range(0, 20).Select(i => (ushort)(1000 + (i * 37 % 20))).ToArray();
        await client.SendTogetherAsync([.. ids.Select(id => RawPackets.Publish(topic, "x", qos: 1, packetId: id))]);
        foreach (var id in ids)
        {
            await client.ExpectAckAsync(PacketKind.PubAck, id);
        }
    }

    [Fact]
    public async Task MQTT_4_6_0_3_PubRecsFollowPublishOrder()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var topic = Names.Topic();
        var ids = Enumerable.Range(0, 20).Select(i => (ushort)(2000 + (i * 37 % 20))).ToArray();
        await client.SendTogetherAsync([.. ids.Select(id => RawPackets.Publish(topic, "x", qos: 2, packetId: id))]);
        foreach (var id in ids)
        {
            await client.ExpectAckAsync(PacketKind.PubRec, id);
        }

        await client.SendTogetherAsync([.. ids.Select(RawPackets.PubRel)]);
        foreach (var id in ids)
        {
            await client.ExpectAckAsync(PacketKind.PubComp, id);
        }
    }

    [Fact]
    public async Task MQTT_4_6_0_4_PubRelsFollowPubRecOrder()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await using (var publisher = await Server.ConnectAsync(Names.ClientId("pub")))
        {
            for (var i = 0; i < 3; i++)
            {
                await publisher.PublishAsync(topic, $"m{i}", qos: 2);
            }
        }

        var delivered = new List<ReceivedPublish>();
        for (var i = 0; i < 3; i++)
        {
            delivered.Add(await subscriber.ExpectPublishAsync());
        }

        // PUBRECs in the order third, first, second: PUBRELs must come back in that order.
        var order = new[] { delivered[2].PacketId, delivered[0].PacketId, delivered[1].PacketId };
        await subscriber.SendTogetherAsync([.. order.Select(RawPackets.PubRec)]);
        foreach (var id in order)
        {
            await subscriber.ExpectAckAsync(PacketKind.PubRel, id);
        }

        await subscriber.SendTogetherAsync([.. order.Select(RawPackets.PubComp)]);
        await subscriber.PingAsync();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MQTT_4_6_0_6_MessagesOnATopicArriveInPublishOrder(int qos)
    {
        const int count = 100;
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, qos));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));

        // All PUBLISHes in one write, then the publisher's side of each handshake, in order.
        var packets = Enumerable.Range(0, count)
            .Select(i => RawPackets.Publish(topic, $"m{i}", qos, packetId: (ushort)(i + 1)))
            .ToArray();
        await publisher.SendTogetherAsync(packets);
        if (qos > 0)
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.ExpectAckAsync(qos == 1 ? PacketKind.PubAck : PacketKind.PubRec, (ushort)(i + 1));
            }
        }

        if (qos == 2)
        {
            await publisher.SendTogetherAsync([.. Enumerable.Range(1, count).Select(i => RawPackets.PubRel((ushort)i))]);
            for (var i = 0; i < count; i++)
            {
                await publisher.ExpectAckAsync(PacketKind.PubComp, (ushort)(i + 1));
            }
        }

        // The subscriber acknowledges as it goes (PUBRELs for QoS 2 arrive interleaved with later PUBLISHes).
        var next = 0;
        while (next < count)
        {
            var frame = await subscriber.ReceiveAsync();
            Assert.NotNull(frame);
            if (frame.Kind == PacketKind.PubRel)
            {
                await subscriber.SendAsync(RawPackets.PubComp(frame.PacketId));
                continue;
            }

            var delivered = ReceivedPublish.Parse(frame);
            Assert.Equal($"m{next}", delivered.Text);
            Assert.Equal(qos, delivered.Qos);
            next++;
            if (qos == 1)
            {
                await subscriber.SendAsync(RawPackets.PubAck(delivered.PacketId));
            }
            else if (qos == 2)
            {
                await subscriber.SendAsync(RawPackets.PubRec(delivered.PacketId));
            }
        }
    }

    [Fact]
    public async Task MQTT_4_6_0_6_MessagesFromOnePublisherKeepOrderAcrossSubscribers()
    {
        var topic = Names.Topic();
        var subscribers = new List<RawMqttClient>();
        try
        {
            for (var s = 0; s < 3; s++)
            {
                var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
                await subscriber.SubscribeGrantedAsync((topic, 1));
                subscribers.Add(subscriber);
            }

            await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
            for (var i = 0; i < 10; i++)
            {
                await publisher.PublishAsync(topic, $"m{i}", qos: 1);
            }

            foreach (var subscriber in subscribers)
            {
                for (var i = 0; i < 10; i++)
                {
                    await subscriber.ExpectPayloadAsync($"m{i}");
                }
            }
        }
        finally
        {
            foreach (var subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }
        }
    }
}
