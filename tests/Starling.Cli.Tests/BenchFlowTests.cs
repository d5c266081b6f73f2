using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Starling.Cli.Bench;
using Starling.Protocol;

namespace Starling.Cli.Tests;

/// <summary>
/// How `starling bench` drives a broker, checked against a scripted server on a real socket: the in-flight window the
/// reference harness uses (N publishes outstanding before the first PUBACK, never more), TCP_NODELAY, no connect-rate
/// cap, the generator's own CPU in the summary. Counts only, no timing.
/// </summary>
public sealed class BenchFlowTests
{
    [Fact]
    public async Task Max_rate_QoS1_keeps_exactly_the_inflight_window_outstanding_before_the_first_PUBACK()
    {
        // The server acks nothing until a connection has `inflight` publishes outstanding, then acks them all at once. A
        // generator that waited for each PUBACK would stall at 1 outstanding (and the run would time out); one that
        // ignored the window would show more than `inflight` outstanding at some read.
        const int inflight = 10, clients = 2, perClient = 50;
        await using var server = await AckingServer.StartAsync(inflight);
        var result = await BenchRunner.RunAsync(new BenchSettings
        {
            Mode = BenchMode.Pub,
            Host = "127.0.0.1",
            Port = server.Port,
            Clients = clients,
            QoS = QualityOfService.AtLeastOnce,
            MaxRate = true,
            Inflight = inflight,
            Limit = clients * perClient,
            TimeoutSeconds = 30,
        }, null, CancellationToken.None);

        Assert.True(result.Complete, result.ToText());
        Assert.Equal(clients * perClient, result.TotalCompleted);
        Assert.Equal([inflight, inflight], server.OutstandingAtFirstAck);
        Assert.Equal(inflight, server.MaxOutstanding);
    }

    [Fact]
    public void Connections_set_TCP_NODELAY()
    {
        using var socket = BenchConnection.CreateSocket(AddressFamily.InterNetwork);
        Assert.True(socket.NoDelay);
    }

    [Fact]
    public void Conn_connect_rate_is_not_capped_by_default()
    {
        var conn = BenchCommand.Create().Subcommands.Single(c => c.Name == "conn");
        var parse = conn.Parse("-p 1883 -c 10");
        Assert.Null(parse.GetValue((Option<double?>)conn.Options.Single(o => o.Name == "--rate")));
        Assert.Equal(64, parse.GetValue((Option<int>)conn.Options.Single(o => o.Name == "--concurrency"))); // as mqload --max-pending
        Assert.Equal(0, new BenchSettings().ConnectRate);
    }

    [Fact]
    public async Task Summary_reports_the_generators_own_CPU_in_the_window()
    {
        await using var server = await AckingServer.StartAsync(1);
        var result = await BenchRunner.RunAsync(new BenchSettings
        {
            Mode = BenchMode.Pub,
            Host = "127.0.0.1",
            Port = server.Port,
            QoS = QualityOfService.AtLeastOnce,
            MaxRate = true,
            Inflight = 1,
            Limit = 20,
            TimeoutSeconds = 30,
        }, null, CancellationToken.None);
        using var json = new MemoryStream();
        result.WriteJson(json);
        using var doc = System.Text.Json.JsonDocument.Parse(json.ToArray());
        Assert.True(doc.RootElement.GetProperty("generatorCpuSeconds").GetDouble() >= 0);
        Assert.Contains("generator CPU", result.ToText(), StringComparison.Ordinal);
    }

    /// <summary>A scripted MQTT 3.1.1 server: CONNACK, then PUBACKs in batches of <c>window</c> per connection.</summary>
    private sealed class AckingServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _window;
        private readonly List<Task> _connections = [];
        private readonly CancellationTokenSource _stop = new();
        private Task _accept = Task.CompletedTask;
        private int _maxOutstanding;

        private AckingServer(int window) => _window = window;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public List<int> OutstandingAtFirstAck { get; } = [];
        public int MaxOutstanding => Volatile.Read(ref _maxOutstanding);

        public static Task<AckingServer> StartAsync(int window)
        {
            var server = new AckingServer(window);
            server._listener.Start();
            server._accept = server.AcceptLoopAsync();
            return Task.FromResult(server);
        }

        private async Task AcceptLoopAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    lock (_connections)
                    {
                        _connections.Add(ServeAsync(client));
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using var _ = client;
            var stream = client.GetStream();
            var pending = new List<(byte, byte)>();
            var acked = false;
            try
            {
                while (true)
                {
                    var (type, body) = await ReadPacketAsync(stream, _stop.Token);
                    switch (type >> 4)
                    {
                        case 1: // CONNECT
                            await stream.WriteAsync(new byte[] { 0x20, 0x02, 0x00, 0x00 }, _stop.Token);
                            break;
                        case 3: // PUBLISH, QoS 1: topic, packet id, payload
                            var topicLength = (body[0] << 8) | body[1];
                            pending.Add((body[2 + topicLength], body[3 + topicLength]));
                            InterlockedMax(ref _maxOutstanding, pending.Count);
                            if (pending.Count >= _window)
                            {
                                if (!acked)
                                {
                                    acked = true;
                                    lock (OutstandingAtFirstAck)
                                    {
                                        OutstandingAtFirstAck.Add(pending.Count);
                                    }
                                }
                                var acks = pending.SelectMany(id => new byte[] { 0x40, 0x02, id.Item1, id.Item2 }).ToArray();
                                pending.Clear();
                                await stream.WriteAsync(acks, _stop.Token);
                            }
                            break;
                        case 14: // DISCONNECT
                            return;
                        default:
                            break;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or EndOfStreamException)
            {
            }
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
            {
            }
        }

        private static async Task<(byte Type, byte[] Body)> ReadPacketAsync(NetworkStream stream, CancellationToken cancellationToken)
        {
            var one = new byte[1];
            await stream.ReadExactlyAsync(one, cancellationToken);
            var type = one[0];
            int length = 0, shift = 0;
            do
            {
                await stream.ReadExactlyAsync(one, cancellationToken);
                length |= (one[0] & 0x7F) << shift;
                shift += 7;
            }
            while ((one[0] & 0x80) != 0);
            var body = new byte[length];
            await stream.ReadExactlyAsync(body, cancellationToken);
            return (type, body);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accept;
            Task[] all;
            lock (_connections)
            {
                all = [.. _connections];
            }
            await Task.WhenAll(all);
            _stop.Dispose();
        }
    }
}
