using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 3.10 and 3.11: UNSUBSCRIBE and UNSUBACK.</summary>
public sealed class UnsubscribeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Theory]
    [InlineData(0xA0)]
    [InlineData(0xA3)]
    [InlineData(0xAA)]
    public async Task MQTT_3_10_1_1_UnsubscribeWithWrongFlagsClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.UnsubscribeRaw(header, 1, new ByteBuilder().Str(Names.Topic()).ToArray()));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_10_3_2_UnsubscribeWithoutTopicFiltersClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.UnsubscribeRaw(0xA2, 1, []));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_10_4_1_FiltersAreComparedCharacterByCharacter()
    {
        var root = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((root + "/+", 1));

        // A filter that matches the same topics but is not the same string removes nothing.
        await subscriber.UnsubscribeAsync(root + "/x", root + "/#", root + "/+/");
        await publisher.PublishAsync(root + "/x", "still", qos: 1);
        await subscriber.ExpectPayloadAsync("still");

        await subscriber.UnsubscribeAsync(root + "/+");
        await publisher.PublishAsync(root + "/x", "gone", qos: 1);
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_10_4_2_NoNewMessagesAfterUnsubscribe()
    {
        var root = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((root + "/a", 1), (root + "/b", 1));
        await subscriber.UnsubscribeAsync(root + "/a");

        await publisher.PublishAsync(root + "/a", "unsubscribed", qos: 1);
        await publisher.PublishAsync(root + "/b", "marker", qos: 1);
        await subscriber.ExpectPayloadAsync("marker");
    }

    [Fact]
    public async Task MQTT_3_10_4_3_Qos2DeliveryCompletesAfterUnsubscribe()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        await publisher.PublishAsync(topic, "started", qos: 2);
        var started = await subscriber.ExpectPublishAsync();

        await subscriber.UnsubscribeAsync(topic);
        await subscriber.SendAsync(RawPackets.PubRec(started.PacketId));
        await subscriber.ExpectAckAsync(PacketKind.PubRel, started.PacketId);
        await subscriber.SendAsync(RawPackets.PubComp(started.PacketId));
        await subscriber.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_10_4_3_UnacknowledgedQos1IsStillRedeliveredAfterUnsubscribe()
    {
        var topic = Names.Topic();
        var id = Names.ClientId("sub");
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await using (var subscriber = await Server.ConnectAsync(id, cleanSession: false))
        {
            await subscriber.SubscribeGrantedAsync((topic, 1));
            await publisher.PublishAsync(topic, "started", qos: 1);
            await subscriber.ExpectPublishAsync(); // not acknowledged
            await subscriber.UnsubscribeAsync(topic);
            subscriber.CloseAbruptly();
        }

        await using var again = await Server.ConnectAsync(id, cleanSession: false);
        var resent = await again.ExpectPublishAsync();
        Assert.Equal("started", resent.Text);
        Assert.True(resent.Dup);
        await again.AcknowledgeAsync(resent);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0x7777)]
    [InlineData(0xFFFF)]
    public async Task MQTT_3_10_4_4_UnsubAckHasSamePacketId(int packetId)
    {
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SubscribeGrantedAsync((topic, 0));
        await client.SendAsync(RawPackets.Unsubscribe((ushort)packetId, topic));
        await client.ExpectUnsubAckAsync((ushort)packetId);
    }

    [Fact]
    public async Task MQTT_3_10_4_5_UnsubAckEvenWhenNothingWasSubscribed()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Unsubscribe(31, Names.Topic(), "never/+/subscribed", "#"));
        await client.ExpectUnsubAckAsync(31);
    }

    [Fact]
    public async Task MQTT_3_10_4_6_MultipleFiltersGetOneUnsubAck()
    {
        var root = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await subscriber.SubscribeGrantedAsync((root + "/a", 1), (root + "/b", 1), (root + "/c", 1));

        await subscriber.SendAsync(RawPackets.Unsubscribe(40, root + "/a", root + "/b"));
        await subscriber.ExpectUnsubAckAsync(40);

        await publisher.PublishAsync(root + "/a", "a", qos: 1);
        await publisher.PublishAsync(root + "/b", "b", qos: 1);
        await publisher.PublishAsync(root + "/c", "c", qos: 1);
        await subscriber.ExpectPayloadAsync("c");
        await subscriber.ExpectNothingAsync();
    }
}
