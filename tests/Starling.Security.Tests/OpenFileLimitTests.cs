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

    [GeneratedRegex(@"at most (\d+) connections at once")]
    private static partial Regex CapacityLine();
}
