using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 3.4 to 3.7 and 4.3: QoS 1 and QoS 2 flows, both directions, and packet ids.</summary>
public sealed class QosFlowTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<(RawMqttClient Subscriber, RawMqttClient Publisher)> PairAsync(string topic, int qos)
    {
        var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, qos));
        var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        return (subscriber, publisher);
    }

    [Fact]
    public async Task MQTT_4_3_1_1_Qos0DeliveryIsQos0Dup0()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 0);
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "fire-and-forget", qos: 1);
        var delivered = await subscriber.ExpectPublishAsync();
        Assert.Equal(0, delivered.Qos);
        Assert.False(delivered.Dup);
        await subscriber.ExpectNothingAsync(); // no retry of a QoS 0 message
    }

    [Fact]
    public async Task MQTT_4_3_2_1_Qos1DeliveryHasPacketIdAndDup0()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 1);
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "q1", qos: 1);
        var delivered = await subscriber.ExpectPublishAsync();
        Assert.Equal(1, delivered.Qos);
        Assert.False(delivered.Dup);
        Assert.NotEqual(0, delivered.PacketId);
        await subscriber.SendAsync(RawPackets.PubAck(delivered.PacketId));
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_4_3_2_2_PubAckCarriesPublishPacketId()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        foreach (var id in new ushort[] { 1, 0x1234, 0xFFFF })
        {
            await client.SendAsync(RawPackets.Publish(Names.Topic(), "x", qos: 1, packetId: id));
            await client.ExpectAckAsync(PacketKind.PubAck, id);
        }
    }

    [Fact]
    public async Task MQTT_4_3_2_2_SamePacketIdAfterPubAckIsNewMessage()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 1);
        await using var s = subscriber;
        await using var p = publisher;

        await publisher.SendAsync(RawPackets.Publish(topic, "first", qos: 1, packetId: 7));
        await publisher.ExpectAckAsync(PacketKind.PubAck, 7);
        await publisher.SendAsync(RawPackets.Publish(topic, "second", qos: 1, dup: true, packetId: 7));
        await publisher.ExpectAckAsync(PacketKind.PubAck, 7);

        await subscriber.ExpectPayloadAsync("first");
        await subscriber.ExpectPayloadAsync("second");
    }

    [Fact]
    public async Task MQTT_4_3_3_1_Qos2DeliveryFlow()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 2);
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "exactly-once", qos: 2);

        var delivered = await subscriber.ExpectPublishAsync();
        Assert.Equal(2, delivered.Qos);
        Assert.False(delivered.Dup);
        Assert.NotEqual(0, delivered.PacketId);

        await subscriber.SendAsync(RawPackets.PubRec(delivered.PacketId));
        await subscriber.ExpectAckAsync(PacketKind.PubRel, delivered.PacketId); // header 0x62 checked there
        await subscriber.SendAsync(RawPackets.PubComp(delivered.PacketId));
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_4_3_3_2_PubRecAndPubCompCarryThePacketId()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        foreach (var id in new ushort[] { 1, 0x4321, 0xFFFF })
        {
            await client.SendAsync(RawPackets.Publish(Names.Topic(), "x", qos: 2, packetId: id));
            await client.ExpectAckAsync(PacketKind.PubRec, id);
            await client.SendAsync(RawPackets.PubRel(id));
            await client.ExpectAckAsync(PacketKind.PubComp, id);
        }
    }

    [Fact]
    public async Task MQTT_4_3_3_2_DuplicateQos2PublishBeforePubRelIsDeliveredOnce()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 2);
        await using var s = subscriber;
        await using var p = publisher;

        await publisher.SendAsync(RawPackets.Publish(topic, "once", qos: 2, packetId: 9));
        await publisher.ExpectAckAsync(PacketKind.PubRec, 9);
        await publisher.SendAsync(RawPackets.Publish(topic, "once", qos: 2, dup: true, packetId: 9));
        await publisher.ExpectAckAsync(PacketKind.PubRec, 9);
        await publisher.SendAsync(RawPackets.PubRel(9));
        await publisher.ExpectAckAsync(PacketKind.PubComp, 9);
        await publisher.PublishAsync(topic, "marker", qos: 2);

        await subscriber.ExpectPayloadAsync("once");
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_4_3_3_2_SamePacketIdAfterPubCompIsNewMessage()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 2);
        await using var s = subscriber;
        await using var p = publisher;

        foreach (var payload in new[] { "first", "second" })
        {
            await publisher.SendAsync(RawPackets.Publish(topic, payload, qos: 2, packetId: 11));
            await publisher.CompletePublishAsync(2, 11);
        }

        await subscriber.ExpectPayloadAsync("first");
        await subscriber.ExpectPayloadAsync("second");
    }

    [Fact]
    public async Task MQTT_4_3_3_2_PubRelForUnknownPacketIdGetsPubComp()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.PubRel(0x0BAD));
        await client.ExpectAckAsync(PacketKind.PubComp, 0x0BAD);
    }

    [Theory]
    [InlineData(0x60)]
    [InlineData(0x63)]
    [InlineData(0x6A)]
    public async Task MQTT_3_6_1_1_PubRelWithWrongFlagsClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Publish(Names.Topic(), "x", qos: 2, packetId: 5));
        await client.ExpectAckAsync(PacketKind.PubRec, 5);
        await client.SendAsync(ByteBuilder.Frame(header, new ByteBuilder().U16(5).ToArray()));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_3_1_4_ServerUsesDistinctPacketIdsWhileUnacknowledged()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 2);
        await using var s = subscriber;
        await using var p = publisher;
        for (var i = 0; i < 5; i++)
        {
            await publisher.PublishAsync(topic, $"m{i}", qos: i % 2 + 1);
        }

        var ids = new List<ushort>();
        for (var i = 0; i < 5; i++)
        {
            var delivered = await subscriber.ExpectPublishAsync();
            Assert.Equal($"m{i}", delivered.Text);
            ids.Add(delivered.PacketId);
        }

        Assert.DoesNotContain((ushort)0, ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task MQTT_2_3_1_3_PacketIdsAreReleasedAfterAcknowledgement()
    {
        // The server may reuse an id once acknowledged; the subscriber keeps receiving either way.
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 1);
        await using var s = subscriber;
        await using var p = publisher;
        for (var i = 0; i < 50; i++)
        {
            await publisher.PublishAsync(topic, $"m{i}", qos: 1);
            await subscriber.ExpectPayloadAsync($"m{i}");
        }
    }

    /// <summary>
    /// A subscriber that answers a delivery with the wrong acknowledgement type for its packet id violates the
    /// protocol: the server closes the connection [MQTT-4.8.0-1] (before: a PUBREC for QoS 1 got PUBREL, the others
    /// were ignored). Issue 16, finding 25.
    /// </summary>
    [Theory]
    [InlineData(1, PacketKind.PubRec)]
    [InlineData(1, PacketKind.PubComp)]
    [InlineData(2, PacketKind.PubAck)]
    [InlineData(2, PacketKind.PubComp)]
    public async Task MQTT_4_8_0_1_WrongAcknowledgementTypeForInflightPacketIdClosesConnection(int qos, PacketKind ack)
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, qos);
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "m", qos: qos);
        var delivered = await subscriber.ExpectPublishAsync();

        await subscriber.SendAsync(RawPackets.Ack(ack, delivered.PacketId, 0));
        await subscriber.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_8_0_1_PubAckAfterPubRecOfAQos2DeliveryClosesConnection()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync(topic, 2);
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "m", qos: 2);
        var delivered = await subscriber.ExpectPublishAsync();
        await subscriber.SendAsync(RawPackets.PubRec(delivered.PacketId));
        await subscriber.ExpectAckAsync(PacketKind.PubRel, delivered.PacketId);

        await subscriber.SendAsync(RawPackets.PubAck(delivered.PacketId));
        await subscriber.ExpectClosedAsync();
    }

    [Fact]
    public async Task Starling_AcknowledgementsForUnknownPacketIdsAreIgnored()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.PubAck(0x0BAD));
        await client.SendAsync(RawPackets.PubComp(0x0BAD));
        await client.SendAsync(RawPackets.PubRec(0x0BAD));
        await client.ExpectAckAsync(PacketKind.PubRel, 0x0BAD);
        await client.PingAsync();
    }
}
