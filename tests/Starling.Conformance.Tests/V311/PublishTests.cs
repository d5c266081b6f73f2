using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 3.3: PUBLISH (retained messages are in <see cref="RetainTests"/>).</summary>
public sealed class PublishTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<(RawMqttClient Subscriber, RawMqttClient Publisher)> PairAsync(params (string Filter, int Qos)[] filters)
    {
        var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync(filters);
        var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        return (subscriber, publisher);
    }

    [Fact]
    public async Task MQTT_3_3_1_2_Qos0DeliveryHasDup0()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync((topic, 0));
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "zero");
        var frame = await subscriber.ExpectPacketAsync(PacketKind.Publish);
        Assert.Equal(0x30, frame.Header);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MQTT_3_3_1_3_IncomingDupIsNotPropagated(int qos)
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync((topic, qos));
        await using var s = subscriber;
        await using var p = publisher;

        // The first transmission of this message, but sent with DUP=1.
        await publisher.SendAsync(RawPackets.Publish(topic, "dup", qos, dup: true, packetId: 77));
        await publisher.CompletePublishAsync(qos, 77);

        var delivered = await subscriber.ExpectPublishAsync();
        Assert.False(delivered.Dup);
        Assert.Equal(qos, delivered.Qos);
        await subscriber.AcknowledgeAsync(delivered);
    }

    [Theory]
    [InlineData(0x36)] // QoS 3
    [InlineData(0x3F)] // QoS 3 with DUP and RETAIN
    public async Task MQTT_3_3_1_4_Qos3PublishClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.PublishRaw(header, RawMqttClient.Utf8(Names.Topic()), 1, [1, 2, 3]));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("conf/+/x")]
    [InlineData("conf/#")]
    [InlineData("#")]
    [InlineData("+")]
    [InlineData("conf/a+b")]
    public async Task MQTT_3_3_2_2_WildcardInTopicNameClosesConnection(string topic)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Publish(topic, "wild", qos: 1, packetId: 1));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_3_2_3_DeliveredTopicNameMatchesFilter()
    {
        var root = Names.Topic();
        var (subscriber, publisher) = await PairAsync((root + "/+/x", 0));
        await using var s = subscriber;
        await using var p = publisher;

        await publisher.PublishAsync(root + "/1/x", "a");
        await publisher.PublishAsync(root + "/1/y", "b");
        await publisher.PublishAsync(root + "/2/x/z", "c");
        await publisher.PublishAsync(root + "/2/x", "d");

        var first = await subscriber.ExpectPublishAsync();
        Assert.Equal(root + "/1/x", first.Topic);
        Assert.Equal("a", first.Text);
        var second = await subscriber.ExpectPublishAsync();
        Assert.Equal(root + "/2/x", second.Topic);
        Assert.Equal("d", second.Text);
    }

    [Fact]
    public async Task MQTT_3_3_4_1_ReceiverRespondsAccordingToQos()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        var topic = Names.Topic();

        // QoS 0: no response at all; the PINGRESP is the next packet.
        await client.SendAsync(RawPackets.Publish(topic, "q0"));
        await client.PingAsync();

        await client.SendAsync(RawPackets.Publish(topic, "q1", qos: 1, packetId: 0x0101));
        await client.ExpectAckAsync(PacketKind.PubAck, 0x0101);

        await client.SendAsync(RawPackets.Publish(topic, "q2", qos: 2, packetId: 0x0202));
        await client.ExpectAckAsync(PacketKind.PubRec, 0x0202);
        await client.SendAsync(RawPackets.PubRel(0x0202));
        await client.ExpectAckAsync(PacketKind.PubComp, 0x0202);
    }

    [Fact]
    public async Task MQTT_3_3_4_1_PublishWithoutSubscribersIsStillAcknowledged()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.PublishAsync(Names.Topic("nobody"), "void", qos: 1);
        await client.PublishAsync(Names.Topic("nobody"), "void", qos: 2);
    }

    [Fact]
    public async Task MQTT_3_3_5_1_OverlappingSubscriptionsRespectMaximumQos()
    {
        var root = Names.Topic();
        var (subscriber, publisher) = await PairAsync((root + "/#", 0), (root + "/a", 2), (root + "/+", 1));
        await using var s = subscriber;
        await using var p = publisher;

        await publisher.PublishAsync(root + "/a", "overlap", qos: 2);
        await publisher.PublishAsync(root + "/zz", "marker", qos: 0);

        // Extra copies are allowed [MQTT-3.3.5-1]; at least one must come at the highest granted QoS.
        var copies = new List<ReceivedPublish>();
        while (true)
        {
            var frame = await subscriber.ReceiveAsync();
            Assert.NotNull(frame);
            if (frame.Kind == PacketKind.PubRel)
            {
                await subscriber.SendAsync(RawPackets.PubComp(frame.PacketId));
                continue;
            }

            var next = ReceivedPublish.Parse(frame);
            if (next.Text == "marker")
            {
                break;
            }

            copies.Add(next);
            if (next.Qos > 0)
            {
                await subscriber.SendAsync(next.Qos == 1 ? RawPackets.PubAck(next.PacketId) : RawPackets.PubRec(next.PacketId));
            }
        }

        Assert.NotEmpty(copies);
        Assert.Contains(copies, c => c.Qos == 2);
    }

    [Fact]
    public async Task Starling_OverlappingSubscriptionsDeliverOneCopy()
    {
        // Starling's choice within [MQTT-3.3.5-1]: one copy per client, at the highest QoS of its matching subscriptions.
        var root = Names.Topic();
        var (subscriber, publisher) = await PairAsync((root + "/#", 1), (root + "/a", 0), (root + "/+", 2));
        await using var s = subscriber;
        await using var p = publisher;

        await publisher.PublishAsync(root + "/a", "once", qos: 2);
        await publisher.PublishAsync(root + "/zz", "marker", qos: 2);

        var first = await subscriber.ExpectPayloadAsync("once");
        Assert.Equal(2, first.Qos);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_2_3_1_5_Qos0PublishFromServerHasNoPacketId()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync((topic, 2));
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, "abc", qos: 0);

        var frame = await subscriber.ExpectPacketAsync(PacketKind.Publish);
        Assert.Equal(0, (frame.Header >> 1) & 3);
        // Topic length field, topic, then the payload straight away.
        Assert.Equal(2 + topic.Length + 3, frame.Body.Length);
        Assert.Equal("abc", ReceivedPublish.Parse(frame).Text);
    }

    [Fact]
    public async Task Publish_ZeroLengthPayloadIsDelivered()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync((topic, 1));
        await using var s = subscriber;
        await using var p = publisher;
        await publisher.PublishAsync(topic, [], qos: 1);
        var delivered = await subscriber.ReceiveAndAckAsync();
        Assert.Empty(delivered.Payload);
    }

    [Fact]
    public async Task Publish_PayloadBytesArePassedThroughUnchanged()
    {
        var topic = Names.Topic();
        var (subscriber, publisher) = await PairAsync((topic, 1));
        await using var s = subscriber;
        await using var p = publisher;
        var payload = Enumerable.Range(0, 70_000).Select(i => (byte)(i * 31)).ToArray();
        await publisher.PublishAsync(topic, payload, qos: 1);
        var delivered = await subscriber.ReceiveAndAckAsync();
        Assert.Equal(payload, delivered.Payload);
    }

    [Fact]
    public async Task Publish_SubscriberReceivesOwnMessages()
    {
        // MQTT 3.1.1 has no "no local" option: a client subscribed to a topic gets what it publishes there.
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SubscribeGrantedAsync((topic, 0));
        await client.SendAsync(RawPackets.Publish(topic, "echo"));
        Assert.Equal("echo", (await client.ExpectPublishAsync()).Text);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MQTT_3_3_5_2_RefusedPublishIsAcknowledgedButNotDelivered(int qos)
    {
        // Starling does not let clients publish to $SYS; a refused PUBLISH gets the normal positive acknowledgement.
        var topic = "$SYS/conf/" + Guid.NewGuid().ToString("N");
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "forged", qos);
        await publisher.PingAsync();
        await subscriber.ExpectNothingAsync();
    }
}
