using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>Random and mutated packets, connection floods and a fast publisher against a slow subscriber.</summary>
public sealed class HostileClientTests
{
    private const int Seed = 20240611;

    [Fact]
    public async Task Fuzzed_packets_never_take_the_server_down_or_grow_its_memory()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Limits:ConnectTimeoutSeconds"] = "2" });
        await using var probe = await RawMqttClient.ConnectOkAsync(server.Endpoint, "probe", version: 5);
        Assert.Equal(1, await probe.SubscribeForCodeAsync("fuzz/probe", 1));
        var random = new Random(Seed);
        var valid = new[]
        {
            RawPackets.Connect("fz"),
            Packets5.Connect(new Connect5 { ClientId = "fz5", UserName = "u", Password = "p"u8.ToArray() }),
            RawPackets.Subscribe(1, ("a/+/#", 1)),
            RawPackets.Publish("a/b", "payload"u8.ToArray(), 1, packetId: 7),
            Packets5.Publish("a/b", "payload"u8.ToArray(), 2, 8, retain: true),
        };
        GC.Collect();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var stopwatch = Stopwatch.StartNew();
        var iterations = 0;
        while (stopwatch.Elapsed < TimeSpan.FromSeconds(20) && iterations < 3000)
        {
            iterations++;
            var bytes = Mutate(random, valid, iterations);
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, LingerState = new LingerOption(true, 0) };
            await socket.ConnectAsync(server.Endpoint);
            try
            {
                await socket.SendAsync(bytes);
                if (random.Next(4) == 0)
                {
                    // Sometimes read what the server says, so responses are exercised too.
                    var buffer = new byte[256];
                    using var cts = new CancellationTokenSource(50);
                    try
                    {
                        await socket.ReceiveAsync(buffer, cts.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
            catch (SocketException)
            {
                // the server closed first: fine
            }
            if (iterations % 200 == 0)
            {
                Assert.NotNull(await probe.PingTimeAsync());
                Assert.Equal(0, await probe.PublishForCodeAsync("fuzz/probe", "alive", qos: 1));
                Assert.Contains("fuzz/probe", await probe.DrainPublishesAsync(TimeSpan.FromMilliseconds(200)));
            }
        }
        Assert.True(iterations >= 500, $"only {iterations} iterations ran");
        Assert.NotNull(await probe.PingTimeAsync());
        await Eventually.TrueAsync(() => server.Server.Broker.PendingConnections == 0 && server.Server.Broker.ConnectedClients == 1,
            $"no connections left behind (now {server.Server.Broker.PendingConnections} pending, {server.Server.Broker.ConnectedClients} connected)");
        var memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(memoryAfter - memoryBefore < 64L * 1024 * 1024, $"managed memory grew from {memoryBefore} to {memoryAfter} bytes over {iterations} fuzzed connections");
    }

    private static byte[] Mutate(Random random, byte[][] valid, int iteration)
    {
        switch (iteration % 4)
        {
            case 0:
                {
                    // Pure noise.
                    var noise = new byte[random.Next(1, 300)];
                    random.NextBytes(noise);
                    return noise;
                }
            case 1:
                {
                    // A valid CONNECT followed by a mutated valid packet.
                    var packet = (byte[])valid[random.Next(2, valid.Length)].Clone();
                    for (var i = random.Next(1, 4); i > 0; i--)
                    {
                        packet[random.Next(packet.Length)] = (byte)random.Next(256);
                    }
                    return [.. valid[random.Next(2)], .. packet];
                }
            case 2:
                {
                    // A mutated CONNECT, sometimes truncated.
                    var packet = (byte[])valid[random.Next(2)].Clone();
                    packet[random.Next(packet.Length)] ^= (byte)(1 << random.Next(8));
                    return random.Next(3) == 0 ? packet[..random.Next(1, packet.Length)] : packet;
                }
            default:
                {
                    // Huge declared lengths and odd fixed headers.
                    return [(byte)random.Next(256), 0xFF, 0xFF, 0xFF, (byte)random.Next(0x80), .. Encoding.ASCII.GetBytes("junk")];
                }
        }
    }

    [Fact]
    public async Task Idle_connection_flood_and_slow_subscriber_leave_a_good_client_responsive()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Limits:ConnectTimeoutSeconds"] = "30",
            ["Limits:MaxPendingConnections"] = "1500",
            ["Limits:MaxQueuedMessages"] = "100",
        });
        await using var good = await RawMqttClient.ConnectOkAsync(server.Endpoint, "good", version: 5);
        Assert.Equal(1, await good.SubscribeForCodeAsync("good/echo", 1));
        // Connected before the flood: while the pending limit is saturated new sockets are closed at once (by design).
        await using var slow = await RawMqttClient.ConnectOkAsync(server.Endpoint, "slow", version: 4);
        Assert.Equal(1, await slow.SubscribeForCodeAsync("flood/#", 1));
        await using var publisher = await RawMqttClient.ConnectOkAsync(server.Endpoint, "fast", version: 4);

        // 2,000 sockets that never send CONNECT: 1,500 are held, the rest are closed at once by the pending limit.
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 2000; i++)
            {
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(server.Endpoint);
                idle.Add(s);
            }
            await Eventually.TrueAsync(() => server.Server.Broker.SecurityCounters.PendingConnectionsExceeded >= 400,
                "400 pending-limit refusals");
            Assert.True(server.Server.Broker.PendingConnections <= 1500);
            var rtt = await good.PingTimeAsync(TimeSpan.FromSeconds(2));
            Assert.NotNull(rtt);
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "PendingConnections", "Limits:MaxPendingConnections"));

            // A fast QoS 0/1 publisher and a subscriber that never reads.
            var payload = new byte[4096];
            var started = Stopwatch.StartNew();
            var sent = 0;
            var worstPing = TimeSpan.Zero;
            while (started.Elapsed < TimeSpan.FromSeconds(8) && sent < 40_000)
            {
                var batch = new List<byte>();
                for (var i = 0; i < 100; i++)
                {
                    batch.AddRange(RawPackets.Publish("flood/x", payload));
                }
                await publisher.SendAsync(batch.ToArray());
                sent += 100;
                if (sent % 2000 == 0)
                {
                    var ping = await good.PingTimeAsync(TimeSpan.FromSeconds(2));
                    Assert.True(ping is not null, $"the good client got no PINGRESP after {sent} flood messages");
                    worstPing = ping.Value > worstPing ? ping.Value : worstPing;
                    Assert.Equal(0, await good.PublishForCodeAsync("good/echo", "still here", qos: 1));
                }
            }
            Assert.True(sent >= 2000, $"only {sent} messages sent");
            Assert.True(worstPing < TimeSpan.FromSeconds(1), $"worst ping {worstPing}");
            Assert.Contains("good/echo", await good.DrainPublishesAsync(TimeSpan.FromMilliseconds(300)));
        }
        finally
        {
            foreach (var s in idle)
            {
                s.Dispose();
            }
        }
    }
}
