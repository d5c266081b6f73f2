using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 3.2: CONNACK and the Session Present flag.</summary>
public sealed class ConnAckTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    /// <summary>Creates a persistent session with one subscription and ends its connection cleanly.</summary>
    private async Task CreatePersistentSessionAsync(string clientId, string topic, int qos = 1)
    {
        await using var client = await Server.ConnectAsync(clientId, cleanSession: false);
        await client.SubscribeGrantedAsync((topic, qos));
        await client.SendAsync(RawPackets.Disconnect());
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task MQTT_3_2_0_1_FirstPacketFromServerIsConnAck()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await CreatePersistentSessionAsync(id, topic);
        await using (var publisher = await Server.ConnectAsync(Names.ClientId("pub")))
        {
            await publisher.PublishAsync(topic, "queued", qos: 1);
        }

        await using var client = await Server.OpenAsync();
        // CONNECT and PINGREQ in one write, with a queued message waiting: CONNACK still comes first.
        await client.SendTogetherAsync(RawPackets.Connect(id, cleanSession: false), RawPackets.PingReq());
        var first = await client.ReceiveAsync();
        Assert.NotNull(first);
        Assert.Equal(PacketKind.ConnAck, first.Kind);
        Assert.Equal(0, ConnAck.Parse(first).ReturnCode);

        var rest = new List<MqttFrame>();
        for (var i = 0; i < 2; i++)
        {
            var next = await client.ReceiveAsync();
            Assert.NotNull(next);
            rest.Add(next);
        }

        Assert.Contains(rest, f => f.Kind == PacketKind.PingResp);
        Assert.Contains(rest, f => f.Kind == PacketKind.Publish && ReceivedPublish.Parse(f).Text == "queued");
    }

    [Fact]
    public async Task MQTT_3_2_2_1_CleanSessionGetsSessionPresent0()
    {
        var id = Names.ClientId();
        await CreatePersistentSessionAsync(id, Names.Topic());
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = true });
        await using (client)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_2_ResumedSessionGetsSessionPresent1()
    {
        var id = Names.ClientId();
        await CreatePersistentSessionAsync(id, Names.Topic());
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (client)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.True(ack.SessionPresent);
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_2_SessionPresentAfterAbruptClose()
    {
        var id = Names.ClientId();
        await using (var client = await Server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((Names.Topic(), 1));
            client.CloseAbruptly();
        }

        var (again, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (again)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.True(ack.SessionPresent);
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_3_NewSessionGetsSessionPresent0()
    {
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = Names.ClientId(), CleanSession = false });
        await using (client)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_4_RefusedConnAckHasSessionPresent0()
    {
        var id = Names.ClientId();
        await CreatePersistentSessionAsync(id, Names.Topic());
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false, ProtocolLevel = 6 });
        await using (client)
        {
            Assert.Equal(1, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_5_RefusedConnAckIsFollowedByClose()
    {
        var (client, ack) = await Server.ConnectRawAsync(new ConnectSpec { ClientId = "", CleanSession = false });
        await using (client)
        {
            Assert.NotEqual(0, ack.ReturnCode);
            await client.ExpectClosedAsync();
        }

        await Server.AssertStillServingAsync();
    }
}
