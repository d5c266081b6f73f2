using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>
/// The same broker behind both plain-TCP transports: Starling's own (the default on Linux x64, which the rest of this
/// suite runs on) and Kestrel's socket transport with the MQTT connection handler (<c>"Transport": "kestrel"</c>).
/// Each case starts its own server; together they cover framing, large packets, QoS flows, keep-alive and bad input.
/// </summary>
public sealed class TransportTests
{
    public static TheoryData<string> Transports => ["starling", "kestrel"];

    private static async Task<TestServer> StartAsync(string transport, params (string Key, string Value)[] more)
    {
        var config = new Dictionary<string, string?> { ["Listeners:0:Transport"] = transport };
        foreach (var (key, value) in more)
        {
            config[key] = value;
        }
        var server = await TestServer.StartAsync(config);
        Assert.Equal(transport, server.Server.MqttTransports[0]);
        return server;
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task MQTT_4_3_QoS_flows_retained_and_split_packets_work_over_each_transport(string transport)
    {
        await using var server = await StartAsync(transport);
        var topic = Names.Topic();
        await using var publisher = await server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "kept", qos: 1, retain: true);

        await using var subscriber = await server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 2));
        var retained = await subscriber.ReceiveAndAckAsync();
        Assert.True(retained.Retain && retained.Text == "kept", retained.ToString());

        // A QoS 2 publish written one byte at a time, then a 1 MB payload in one write.
        foreach (var b in RawPackets.Publish(topic, "split", qos: 2, packetId: 9))
        {
            await publisher.SendAsync(new[] { b });
        }
        await publisher.ExpectAckAsync(PacketKind.PubRec, 9);
        await publisher.SendAsync(RawPackets.PubRel(9));
        await publisher.ExpectAckAsync(PacketKind.PubComp, 9);
        Assert.Equal("split", (await subscriber.ReceiveAndAckAsync()).Text);

        var large = new byte[1024 * 1024];
        new Random(7).NextBytes(large);
        await publisher.PublishAsync(topic, large, qos: 1);
        Assert.Equal(large, (await subscriber.ReceiveAndAckAsync()).Payload);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task MQTT_3_1_2_24_keep_alive_timeout_closes_the_connection_over_each_transport(string transport)
    {
        await using var server = await StartAsync(transport);
        await using var client = await server.ConnectAsync(Names.ClientId(), keepAlive: 1);
        await client.ExpectClosedAsync(TimeSpan.FromSeconds(4));
        await server.AssertStillServingAsync();
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task MQTT_4_8_0_1_malformed_and_oversized_packets_close_only_their_connection(string transport)
    {
        await using var server = await StartAsync(transport, ("Limits:MaxPacketSize", "1024"));
        await using var bystander = await server.ConnectAsync(Names.ClientId("ok"));

        await using var malformed = await server.ConnectAsync(Names.ClientId("bad"));
        await malformed.SendAsync(new byte[] { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F }); // remaining length over 4 bytes
        await malformed.ExpectClosedAsync();

        await using var oversized = await server.ConnectAsync(Names.ClientId("big"));
        await oversized.SendAsync(RawPackets.Publish(Names.Topic(), new byte[4096]));
        await oversized.ExpectClosedAsync();

        await bystander.PingAsync();
        await server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Two_servers_in_one_process_each_keep_their_own_transport_running()
    {
        // Each server owns its ReadinessPoller (epoll set and thread): stopping one must leave the other's idle
        // connections woken by readiness events and its accept path working. A poller shared by the process and
        // stopped with the second server would leave the first client's SUBSCRIBE unread.
        await using var first = await StartAsync("starling");
        var second = await StartAsync("starling");
        await using var subscriber = await first.ConnectAsync(Names.ClientId("sub"));
        await using (await second.ConnectAsync(Names.ClientId("other")))
        {
        }
        await second.DisposeAsync();

        var topic = Names.Topic();
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var publisher = await first.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "still here", qos: 1);
        Assert.Equal("still here", (await subscriber.ReceiveAndAckAsync()).Text);
    }
}
