using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Starling.Security.Tests.Infrastructure;

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
        await using var server = await SecureServer.StartAsync(new() { ["Limits:MaxOpenConnections"] = "3" });
        // A socket that has not sent CONNECT counts too: it holds a descriptor all the same.
        var pending = await MqttTestClient.OpenAsync(server.Endpoint);
        await using var one = await MqttTestClient.ConnectOkAsync(server.Endpoint, "one");
        await using var two = await MqttTestClient.ConnectOkAsync(server.Endpoint, "two");
        var (refused, code) = await MqttTestClient.ConnectAsync(server.Endpoint, "three");
        await refused.DisposeAsync();
        Assert.Equal(-1, code);
        Assert.Equal(1, server.Server.Broker.SecurityCounters.OpenConnectionsExceeded);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "OpenConnections", "Limits:MaxOpenConnections"));

        // Room again once a connection is gone: the next attempt that finds it connects.
        await pending.DisposeAsync();
        Assert.True(await ConnectsWithinAsync(server.Endpoint, TimeSpan.FromSeconds(5)), "no connection was admitted after one closed");
        Assert.True(await one.PingAsync() is not null, "an admitted client lost its connection");
    }

    [Fact]
    public async Task A_server_at_its_open_file_limit_refuses_the_excess_and_keeps_serving()
    {
        // 400 descriptors: the runtime holds ~160 once listening, so the derived limit is a couple of hundred
        // connections. Without it the 400th accept fails, the next thread the runtime creates cannot get its pipe and
        // the process aborts with "Out of memory.".
        var dll = Path.Combine(AppContext.BaseDirectory, "starling-server.dll");
        var psi = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"ulimit -n 400 && exec dotnet '{dll}' --port 0 --memory");
        psi.Environment["DOTNET_gcServer"] = "0";
        using var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var output = new StringBuilder();
        var ready = new TaskCompletionSource<(int Port, int Capacity)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var capacity = 0;
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (output)
            {
                output.AppendLine(line);
            }
            if (CapacityLine().Match(line) is { Success: true } c)
            {
                capacity = int.Parse(c.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }
            if (ListeningLine().Match(line) is { Success: true } m)
            {
                ready.TrySetResult((int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), capacity));
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("starling-server exited:\n" + output));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var clients = new List<MqttTestClient>();
        try
        {
            var (port, limit) = await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.InRange(limit, 20, 300);
            var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port);
            var accepted = 0;
            var refused = 0;
            for (var i = 0; i < 400; i++)
            {
                try
                {
                    var (client, code) = await MqttTestClient.ConnectAsync(endpoint, "fd" + i);
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
            Assert.False(process.HasExited, "the server died at its open-file limit:\n" + output);
            Assert.Equal(limit, accepted);
            Assert.Equal(400 - limit, refused);

            // Still serving the clients it has, and new ones once some leave.
            var subscriber = clients[0];
            Assert.Equal(0, await subscriber.SubscribeAsync("fd/t", 0));
            foreach (var c in clients.Skip(1))
            {
                await c.DisposeAsync();
            }
            clients.RemoveRange(1, clients.Count - 1);
            Assert.True(await ConnectsWithinAsync(endpoint, TimeSpan.FromSeconds(10)), "no new connection after the flood:\n" + output);
            await using var publisher = await MqttTestClient.ConnectOkAsync(endpoint, "fd-pub");
            await publisher.PublishAsync("fd/t", "still here");
            var delivery = await subscriber.ExpectAsync(Packet.Publish);
            Assert.Equal("fd/t", delivery?.Topic);
            Assert.False(process.HasExited, output.ToString());
            Assert.Contains("Refused (OpenConnections)", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
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
            var (client, code) = await MqttTestClient.ConnectAsync(endpoint, "again" + attempt);
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

    [GeneratedRegex(@"listening on .*?:(\d+) \(")]
    private static partial Regex ListeningLine();
}
