using System.Diagnostics;
using System.Text.RegularExpressions;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Limits:MaxOpenConnections and its default from the open-file limit: a flood of sockets is refused, it never takes
/// the process to its descriptor limit (where the .NET runtime aborts as soon as it needs a thread).
/// </summary>
public sealed partial class OpenFileLimitTests
{
    [Fact]
    public async Task Connections_past_MaxOpenConnections_are_closed_before_CONNECT_and_counted()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Limits:MaxOpenConnections"] = "3" });
        // A socket that has not sent CONNECT counts too: it holds a descriptor all the same.
        var pending = await RawMqttClient.OpenAsync(server.Endpoint, "pending");
        await using var one = await RawMqttClient.ConnectOkAsync(server.Endpoint, "one");
        await using var two = await RawMqttClient.ConnectOkAsync(server.Endpoint, "two");
        var (refused, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "three");
        await refused.DisposeAsync();
        Assert.Equal(-1, code);
        Assert.Equal(1, server.Server.Broker.SecurityCounters.OpenConnectionsExceeded);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "OpenConnections", "Limits:MaxOpenConnections"));

        // Room again once a connection is gone: the next attempt that finds it connects.
        await pending.DisposeAsync();
        Assert.True(await ConnectsWithinAsync(server.Endpoint, TimeSpan.FromSeconds(5)), "no connection was admitted after one closed");
        Assert.True(await one.PingTimeAsync() is not null, "an admitted client lost its connection");
    }

    [Fact]
    public async Task A_server_at_its_open_file_limit_refuses_the_excess_and_keeps_serving()
    {
        // 400 descriptors: the runtime holds ~160 once listening, so the derived limit is a couple of hundred
        // connections. Without it the 400th accept fails, the next thread the runtime creates cannot get its pipe and
        // the process aborts with "Out of memory.".
        var dir = Directory.CreateTempSubdirectory("starling-fd-");
        var clients = new List<RawMqttClient>();
        try
        {
            await using var server = await ServerProcess.StartAsync(dir.FullName, openFileLimit: 400);
            var limit = int.Parse(CapacityLine().Match(server.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(limit, 20, 300);
            var endpoint = server.Endpoint;
            var accepted = 0;
            var refused = 0;
            for (var i = 0; i < 400; i++)
            {
                try
                {
                    var (client, code) = await RawMqttClient.ConnectForCodeAsync(endpoint, "fd" + i);
                    clients.Add(client);
                    if (code == 0)
                    {
                        accepted++;
                    }
                    else
                    {
                        refused++;
                    }
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException or IOException)
                {
                    refused++; // the backlog filled up while the process had no descriptor to accept with
                }
            }
            Assert.False(server.HasExited, "the server died at its open-file limit:\n" + server.Output);
            Assert.Equal(limit, accepted);
            Assert.Equal(400 - limit, refused);

            // Still serving the clients it has, and new ones once some leave.
            var subscriber = clients[0];
            Assert.Equal(0, await subscriber.SubscribeForCodeAsync("fd/t", 0));
            foreach (var c in clients.Skip(1))
            {
                await c.DisposeAsync();
            }
            clients.RemoveRange(1, clients.Count - 1);
            Assert.True(await ConnectsWithinAsync(endpoint, TimeSpan.FromSeconds(10)), "no new connection after the flood:\n" + server.Output);
            await using var publisher = await RawMqttClient.ConnectOkAsync(endpoint, "fd-pub");
            await publisher.PublishAsync("fd/t", "still here");
            var delivery = await subscriber.ExpectPublishAsync();
            Assert.Equal("fd/t", delivery.Topic);
            Assert.False(server.HasExited, server.Output);
            Assert.Contains("Refused (OpenConnections)", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Idle_sockets_on_the_WebSocket_and_management_ports_do_not_keep_MQTT_clients_out()
    {
        // 400 descriptors, 420 idle sockets to each HTTP port (never a byte sent). Before: they were counted only after
        // an HTTP upgrade, so they took every descriptor: the plain port's MQTT clients were refused (or the process
        // aborted). Now every socket is counted at accept and the HTTP listeners hold at most their share.
        var dir = Directory.CreateTempSubdirectory("starling-fd-http-");
        var idle = new List<System.Net.Sockets.Socket>();
        try
        {
            await using var server = await ServerProcess.StartAsync(dir.FullName, openFileLimit: 400, "--ws-port", "0", "--management-port", "0");
            await Eventually.TrueAsync(() => WebSocketLine().IsMatch(server.Output) && ManagementLine().IsMatch(server.Output), "the HTTP listeners' log lines");
            var ws = int.Parse(WebSocketLine().Match(server.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var management = int.Parse(ManagementLine().Match(server.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            foreach (var port in new[] { ws, management })
            {
                for (var i = 0; i < 420; i++)
                {
                    var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                    idle.Add(socket);
                    try
                    {
                        await socket.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port)).WaitAsync(TimeSpan.FromSeconds(5));
                    }
                    catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
                    {
                        // The listen backlog is full while the server refuses: the socket is left out, as a client would be.
                    }
                }
            }
            Assert.False(server.HasExited, "the server died:\n" + server.Output);
            Assert.True(await ConnectsWithinAsync(server.Endpoint, TimeSpan.FromSeconds(15)), "no MQTT client got in past the idle HTTP sockets:\n" + server.Output);
            await using var client = await RawMqttClient.ConnectOkAsync(server.Endpoint, "after-http-flood");
            Assert.True(await client.PingTimeAsync() is not null, "the MQTT client lost its connection");
            Assert.False(server.HasExited, "the server died:\n" + server.Output);
            Assert.Contains("Refused (HttpConnections)", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_burst_of_sockets_on_the_plain_port_is_shed_at_accept_and_the_process_survives()
    {
        // 1,000 sockets opened at once, none sending a byte, under 400 descriptors. Before: accepted sockets were
        // admitted on the thread pool after accept, so a burst could outrun the refusals, take the process to its
        // descriptor limit and abort it ("Out of memory."). Now each socket past the limit is closed on the accept loop.
        var dir = Directory.CreateTempSubdirectory("starling-fd-burst-");
        var burst = new List<System.Net.Sockets.Socket>();
        try
        {
            await using var server = await ServerProcess.StartAsync(dir.FullName, openFileLimit: 400);
            var connects = new List<Task>();
            for (var i = 0; i < 1000; i++)
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                burst.Add(socket);
                connects.Add(socket.ConnectAsync(server.Endpoint).WaitAsync(TimeSpan.FromSeconds(10)));
            }
            try
            {
                await Task.WhenAll(connects);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or TimeoutException)
            {
                // Some do not get through the full backlog: expected under a burst.
            }
            Assert.False(server.HasExited, "the server died under the burst:\n" + server.Output);
            foreach (var socket in burst)
            {
                socket.Dispose();
            }
            burst.Clear();
            Assert.True(await ConnectsWithinAsync(server.Endpoint, TimeSpan.FromSeconds(15)), "no connection after the burst:\n" + server.Output);
            Assert.False(server.HasExited, "the server died after the burst:\n" + server.Output);
            Assert.Contains("Refused (OpenConnections)", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var socket in burst)
            {
                socket.Dispose();
            }
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Connect attempts until one gets CONNACK 0: a closed connection leaves the count once its socket is closed, a
    /// moment after the client's close. Each refused attempt is answered at once, so this waits on the server's answers.
    /// </summary>
    private static async Task<bool> ConnectsWithinAsync(System.Net.IPEndPoint endpoint, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        for (var attempt = 0; clock.Elapsed < timeout; attempt++)
        {
            var (client, code) = await RawMqttClient.ConnectForCodeAsync(endpoint, "again" + attempt);
            await client.DisposeAsync();
            if (code == 0)
            {
                return true;
            }
        }
        return false;
    }

    [GeneratedRegex(@"MQTT over WebSockets on ws://[^ ]*:(\d+)/")]
    private static partial Regex WebSocketLine();

    [GeneratedRegex(@"Management API.* on http://[^ ]*:(\d+)/")]
    private static partial Regex ManagementLine();

    [GeneratedRegex(@"at most (\d+) connections at once")]
    private static partial Regex CapacityLine();
}
