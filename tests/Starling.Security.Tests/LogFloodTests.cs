using Microsoft.Extensions.Time.Testing;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Issue 16, finding 12 (remainder): connection-log lines that any socket can cause before authenticating (protocol
/// errors, connect timeouts; refusals were done before) are written at most once per
/// <c>Limits:RejectionLogIntervalSeconds</c>, and the next line says how many were not. Real server and sockets, the
/// broker's clock faked so the interval is exact.
/// </summary>
public sealed class LogFloodTests
{
    [Fact]
    public async Task A_thousand_malformed_connections_write_one_protocol_error_line_and_the_next_interval_reports_the_rest()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = time });
        const int flood = 1000;
        for (var i = 0; i < flood; i++)
        {
            await MalformedAsync(server);
        }
        Assert.Equal(flood, Interlocked.Read(ref server.Server.Broker.Counters.ProtocolErrors));
        // Before the fix: 1,000 lines "first packet must be CONNECT ... closing connection", one per socket.
        Assert.True(ProtocolErrorLines(server).Count <= 3, $"{ProtocolErrorLines(server).Count} protocol-error lines:\n{server.Logs.Tail(5)}");

        time.Advance(TimeSpan.FromSeconds(11));
        await MalformedAsync(server);
        var summary = await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "closing connection", $"({flood - 1} more protocol errors in the last 10 s not logged)");
        Assert.NotNull(summary);
        // The value stays escaped in the summary line too.
        Assert.Contains("first packet must be CONNECT", summary, StringComparison.Ordinal);
        Assert.True(ProtocolErrorLines(server).Count <= 4);
    }

    [Fact]
    public async Task Idle_sockets_that_reach_the_connect_timeout_write_one_line_per_interval()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = time });
        var idle = new List<RawMqttClient>();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                idle.Add(await RawMqttClient.OpenAsync(server.Endpoint, "idle" + i));
            }
            await Eventually.TrueAsync(() => server.Server.Broker.PendingConnections == 30, "every socket accepted");
            time.Advance(TimeSpan.FromSeconds(11)); // past Limits:ConnectTimeoutSeconds (10)
            server.Server.Broker.Tick();
            foreach (var client in idle)
            {
                Assert.Null(await client.ReceiveAsync()); // closed without a packet
            }
            // Before the fix: 30 lines "no CONNECT within 00:00:10; closing".
            Assert.Single(TimeoutLines(server));

            await using var late = await RawMqttClient.OpenAsync(server.Endpoint, "late");
            await Eventually.TrueAsync(() => server.Server.Broker.PendingConnections == 1, "the late socket accepted");
            time.Advance(TimeSpan.FromSeconds(11));
            server.Server.Broker.Tick();
            Assert.Null(await late.ReceiveAsync());
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "no CONNECT within", "(29 more connect timeouts in the last 10 s not logged)"));
            Assert.Equal(2, TimeoutLines(server).Count);
        }
        finally
        {
            foreach (var client in idle)
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>A socket whose first packet is PINGREQ: a protocol error before CONNECT [MQTT-3.1.0-1], then closed.</summary>
    private static async Task MalformedAsync(TestServer server)
    {
        await using var client = await RawMqttClient.OpenAsync(server.Endpoint, "malformed");
        await client.SendAsync(new byte[] { 0xC0, 0x00 });
        Assert.Null(await client.ReceiveAsync());
    }

    private static List<string> ProtocolErrorLines(TestServer server)
        => [.. server.Logs.Messages.Where(l => l.Contains("closing connection", StringComparison.Ordinal))];

    private static List<string> TimeoutLines(TestServer server)
        => [.. server.Logs.Messages.Where(l => l.Contains("no CONNECT within", StringComparison.Ordinal))];
}
