using Starling.Testing;

namespace Starling.Conformance.Tests.V31;

/// <summary>MQTT 3.1 ("MQIsdp", protocol level 3): the basics, and interplay with 3.1.1 clients.</summary>
public sealed class Mqtt31Tests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private static string ShortId(string prefix) => Names.ClientId(prefix); // at most 23 characters, as 3.1 requires

    [Fact]
    public async Task Mqtt31_ConnectIsAccepted()
    {
        var (client, ack) = await Server.ConnectRawAsync(ConnectSpec.V31(ShortId("v31")));
        await using (client)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.Equal(0, ack.AckFlags); // 3.1 has no session present flag
            await client.PingAsync();
        }
    }

    [Fact]
    public async Task Mqtt31_ZeroLengthClientIdGetsReturnCode2()
    {
        var (client, ack) = await Server.ConnectRawAsync(ConnectSpec.V31(""));
        await using (client)
        {
            Assert.Equal(2, ack.ReturnCode);
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task Mqtt31_PublishSubscribeQos1()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var publisher = await Server.ConnectAsync(ConnectSpec.V31(ShortId("pub")));
        await publisher.PublishAsync(topic, "from-3.1", qos: 1);

        var delivered = await subscriber.ExpectPayloadAsync("from-3.1");
        Assert.Equal(1, delivered.Qos);
        Assert.False(delivered.Dup);
        Assert.False(delivered.Retain);
    }

    [Fact]
    public async Task Mqtt31_Qos2Flow()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await using var publisher = await Server.ConnectAsync(ConnectSpec.V31(ShortId("pub")));
        await publisher.PublishAsync(topic, "exactly-once", qos: 2);
        Assert.Equal(2, (await subscriber.ExpectPayloadAsync("exactly-once")).Qos);
    }

    [Fact]
    public async Task Mqtt31_InteroperatesWithMqtt311Clients()
    {
        var topic = Names.Topic();
        await using var old = await Server.ConnectAsync(ConnectSpec.V31(ShortId("old")));
        await using var current = await Server.ConnectAsync(Names.ClientId("new"));
        await old.SubscribeGrantedAsync((topic + "/to-old", 1));
        await current.SubscribeGrantedAsync((topic + "/to-new", 1));

        await current.PublishAsync(topic + "/to-old", "hello-old", qos: 1);
        await old.PublishAsync(topic + "/to-new", "hello-new", qos: 1);

        await old.ExpectPayloadAsync("hello-old");
        await current.ExpectPayloadAsync("hello-new");
    }

    [Fact]
    public async Task Mqtt31_RetainedMessageDeliveredOnSubscribe()
    {
        var topic = Names.Topic();
        await using (var publisher = await Server.ConnectAsync(ConnectSpec.V31(ShortId("pub"))))
        {
            await publisher.PublishAsync(topic, "kept", qos: 1, retain: true);
        }

        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        Assert.True((await subscriber.ExpectPayloadAsync("kept")).Retain);
    }

    [Fact]
    public async Task Mqtt31_WillPublishedOnAbnormalClose()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        var spec = ConnectSpec.V31(ShortId("will")) with { Will = new WillSpec(topic, "gone-3.1", 1) };
        await using (var client = await Server.ConnectAsync(spec))
        {
            client.CloseAbruptly();
        }

        var will = await subscriber.ExpectPayloadAsync("gone-3.1");
        Assert.Equal(1, will.Qos);
    }

    [Fact]
    public async Task Mqtt31_WillNotPublishedAfterDisconnect()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        var spec = ConnectSpec.V31(ShortId("will")) with { Will = new WillSpec(topic, "discarded", 1) };
        await using (var client = await Server.ConnectAsync(spec))
        {
            await client.SendAsync(RawPackets.Disconnect());
            await client.ExpectClosedAsync();
        }

        await using var publisher = await Server.ConnectAsync(ConnectSpec.V31(ShortId("pub")));
        await publisher.PublishAsync(topic, "marker", qos: 1);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task Mqtt31_PersistentSessionQueuesWhileOffline()
    {
        var id = ShortId("per");
        var topic = Names.Topic();
        await using (var client = await Server.ConnectAsync(ConnectSpec.V31(id) with { CleanSession = false }))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await client.SendAsync(RawPackets.Disconnect());
            await client.ExpectClosedAsync();
        }

        await using (var publisher = await Server.ConnectAsync(ConnectSpec.V31(ShortId("pub"))))
        {
            await publisher.PublishAsync(topic, "queued", qos: 1);
        }

        var (again, ack) = await Server.ConnectRawAsync(ConnectSpec.V31(id) with { CleanSession = false });
        await using (again)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.Equal(0, ack.AckFlags); // no session present flag in 3.1, even with a stored session
            await again.ExpectPayloadAsync("queued");
        }
    }

    // MQTT 3.1 (section 2.1, "DUP"): PUBREL, SUBSCRIBE and UNSUBSCRIBE carry QoS 1 in the fixed header and set DUP when
    // they are re-sent. The 3.1.1 rule that these flags are exactly 0010 [MQTT-2.2.2-1] does not apply to 3.1.

    [Fact]
    public async Task Mqtt31_PubRelResentWithDupGetsPubComp()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(ConnectSpec.V31(ShortId("sub")));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await using var client = await Server.ConnectAsync(ConnectSpec.V31(ShortId("dup")));
        await client.SendAsync(RawPackets.Publish(topic, "once", qos: 2, packetId: 7));
        await client.ExpectAckAsync(PacketKind.PubRec, 7);

        await client.SendAsync(new byte[] { 0x6A, 0x02, 0x00, 0x07 }); // PUBREL, DUP 1, QoS 1: a 3.1 retry
        await client.ExpectAckAsync(PacketKind.PubComp, 7);
        await client.SendAsync(new byte[] { 0x6A, 0x02, 0x00, 0x07 }); // and once more, after the flow ended
        await client.ExpectAckAsync(PacketKind.PubComp, 7);
        await subscriber.ExpectPayloadAsync("once");
        await client.PingAsync();
    }

    [Fact]
    public async Task Mqtt31_SubscribeResentWithDupGetsSubAck()
    {
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(ConnectSpec.V31(ShortId("dup")));
        var payload = new ByteBuilder().Str(topic).U8(1).ToArray();

        await client.SendAsync(RawPackets.SubscribeRaw(0x8A, 3, payload)); // SUBSCRIBE, DUP 1, QoS 1
        Assert.Equal([1], await client.ExpectSubAckAsync(3));
        await client.PublishAsync(topic, "subscribed", qos: 1);
        await client.ExpectPayloadAsync("subscribed");
    }

    [Fact]
    public async Task Mqtt31_UnsubscribeResentWithDupGetsUnsubAck()
    {
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(ConnectSpec.V31(ShortId("dup")));
        await client.SubscribeGrantedAsync((topic, 0), (topic + "/marker", 0));

        await client.SendAsync(RawPackets.UnsubscribeRaw(0xAA, 4, new ByteBuilder().Str(topic).ToArray())); // DUP 1, QoS 1
        await client.ExpectUnsubAckAsync(4);
        await client.PublishAsync(topic, "not-for-me");
        await client.PublishAsync(topic + "/marker", "marker");
        await client.ExpectPayloadAsync("marker"); // the next delivery is the marker: the unsubscribe took effect
    }

    /// <summary>
    /// Starling's choice: 3.1 specifies QoS 1 and no RETAIN for these packets, so other flag values still close the
    /// connection (Mosquitto ignores the flags of a 3.1 client altogether).
    /// </summary>
    [Theory]
    [InlineData(0x60)] // QoS 0
    [InlineData(0x63)] // RETAIN
    [InlineData(0x6C)] // DUP with QoS 2
    public async Task Mqtt31_PubRelWithFlagsOtherThanQos1AndDupClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(ConnectSpec.V31(ShortId("bad")));
        await client.SendAsync(RawPackets.Publish(Names.Topic(), "x", qos: 2, packetId: 5));
        await client.ExpectAckAsync(PacketKind.PubRec, 5);
        await client.SendAsync(ByteBuilder.Frame(header, new ByteBuilder().U16(5).ToArray()));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }
}
