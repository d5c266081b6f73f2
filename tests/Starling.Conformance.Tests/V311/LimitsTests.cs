using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>
/// Server limits from configuration (each test starts its own server with overrides): packet size, connect timeout,
/// client id length, inflight window and offline queue.
/// </summary>
public sealed class LimitsTests
{
    [Fact]
    public async Task Limits_PacketLargerThanMaxPacketSizeClosesConnection()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxPacketSize"] = "1024" });
        var topic = Names.Topic();
        await using var subscriber = await server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var client = await server.ConnectAsync(Names.ClientId());

        await client.PublishAsync(topic, new byte[900], qos: 1);
        Assert.Equal(900, (await subscriber.ReceiveAndAckAsync()).Payload.Length);

        await client.SendAsync(RawPackets.Publish(topic, new byte[2000], qos: 1, packetId: 2));
        await client.ExpectClosedAsync();
        await subscriber.PingAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Limits_OversizedPacketIsRefusedFromItsFixedHeader()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxPacketSize"] = "1024" });
        await using var client = await server.ConnectAsync(Names.ClientId());
        // Only the fixed header of a 1 MB PUBLISH: the server must not wait for the body to refuse it.
        await client.SendAsync(new byte[] { 0x30, 0x80, 0x80, 0x40 });
        await client.ExpectClosedAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Limits_OversizedConnectClosesConnection()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxPacketSize"] = "1024" });
        await using var client = await server.OpenAsync();
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = Names.ClientId(), Password = new byte[2000], UserName = "u" }));
        await client.ExpectClosedAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Limits_ConnectTimeoutClosesSilentConnection()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:ConnectTimeoutSeconds"] = "1" });
        await using var silent = await server.OpenAsync();
        await using var partial = await server.OpenAsync();
        await partial.SendAsync(RawPackets.Connect(Names.ClientId()).AsMemory(0, 5));
        await silent.ExpectClosedAsync();
        await partial.ExpectClosedAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_3_9_RejectedClientIdGetsReturnCode2()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxClientIdLength"] = "23" });
        var (client, ack) = await server.ConnectRawAsync(new ConnectSpec { ClientId = new string('x', 24) });
        await using (client)
        {
            Assert.Equal(2, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
            await client.ExpectClosedAsync();
        }

        await using var fine = await server.ConnectAsync(new string('y', 23));
        await fine.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_3_6_ZeroLengthClientIdRefusedWhenDisallowed()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["AllowZeroLengthClientId"] = "false" });
        var (client, ack) = await server.ConnectRawAsync(new ConnectSpec { ClientId = "", CleanSession = true });
        await using (client)
        {
            Assert.Equal(2, ack.ReturnCode);
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task Limits_AnonymousRefusedWithReturnCode5WhenDisallowed()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["AllowAnonymous"] = "false" });
        var (client, ack) = await server.ConnectRawAsync(new ConnectSpec { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(5, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task Limits_MaxInflightMessagesBoundsUnacknowledgedDeliveries()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxInflightMessages"] = "2" });
        var topic = Names.Topic();
        await using var subscriber = await server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var publisher = await server.ConnectAsync(Names.ClientId("pub"));
        for (var i = 0; i < 5; i++)
        {
            await publisher.PublishAsync(topic, $"m{i}", qos: 1);
        }

        var first = await subscriber.ExpectPublishAsync();
        var second = await subscriber.ExpectPublishAsync();
        Assert.Equal(["m0", "m1"], new[] { first.Text, second.Text });
        await subscriber.ExpectNothingAsync();

        // Each acknowledgement opens the window for one more, in order.
        await subscriber.SendAsync(RawPackets.PubAck(first.PacketId));
        var third = await subscriber.ExpectPublishAsync();
        Assert.Equal("m2", third.Text);
        await subscriber.ExpectNothingAsync();
        await subscriber.SendTogetherAsync(RawPackets.PubAck(second.PacketId), RawPackets.PubAck(third.PacketId));
        await subscriber.ExpectPayloadAsync("m3");
        await subscriber.ExpectPayloadAsync("m4");
    }

    [Fact]
    public async Task Limits_MaxQueuedMessagesBoundsOfflineQueue()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Limits:MaxQueuedMessages"] = "5",
            ["Limits:MaxInflightMessages"] = "1",
        });
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await server.ConnectAsync(id, cleanSession: false))
        {
            await client.SubscribeGrantedAsync((topic, 1));
            await client.SendAsync(RawPackets.Disconnect());
            await client.ExpectClosedAsync();
        }

        await using (var publisher = await server.ConnectAsync(Names.ClientId("pub")))
        {
            for (var i = 0; i < 20; i++)
            {
                await publisher.PublishAsync(topic, $"m{i}", qos: 1);
            }
        }

        await using var again = await server.ConnectAsync(id, cleanSession: false);
        var received = new List<string>();
        while (await again.TryReceiveAsync(RawMqttClient.QuietPeriod) is { } frame)
        {
            var publish = ReceivedPublish.Parse(frame);
            received.Add(publish.Text);
            await again.AcknowledgeAsync(publish);
        }

        // The oldest messages are kept (new ones are dropped past the limit), in order; the inflight slot may add one.
        Assert.InRange(received.Count, 5, 6);
        Assert.Equal(Enumerable.Range(0, received.Count).Select(i => $"m{i}"), received);
    }
}
