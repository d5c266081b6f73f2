using System.Net;
using System.Net.Sockets;
using Starling.Server;

namespace Starling.Conformance.Tests.Infrastructure;

/// <summary>A Starling server started in-process on an ephemeral port, plus helpers to reach it.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly CapturingLoggerProvider _logs;

    private TestServer(StarlingServer server, CapturingLoggerProvider logs)
    {
        Server = server;
        _logs = logs;
        var endpoint = server.MqttEndpoints.FirstOrDefault(e => e.AddressFamily == AddressFamily.InterNetwork)
            ?? server.MqttEndpoints[0];
        var address = endpoint.Address;
        if (address.Equals(IPAddress.Any))
        {
            address = IPAddress.Loopback;
        }
        else if (address.Equals(IPAddress.IPv6Any))
        {
            address = IPAddress.IPv6Loopback;
        }

        Endpoint = new IPEndPoint(address, endpoint.Port);
    }

    public StarlingServer Server { get; }

    public IPEndPoint Endpoint { get; }

    public static async Task<TestServer> StartAsync(IDictionary<string, string?>? overrides = null)
    {
        // Memory mode unless a test asks for storage: tests stay fast, independent, and write nothing to the working directory.
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["Storage:Mode"] = "memory" };
        if (overrides is not null)
        {
            foreach (var (key, value) in overrides)
            {
                config[key] = value;
            }
        }

        var logs = new CapturingLoggerProvider();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = await StarlingServer.StartAsync(["--port", "0"], config, logs, cts.Token);
        return new TestServer(server, logs);
    }

    public Task<RawMqttClient> OpenAsync(string name = "client") => RawMqttClient.OpenAsync(Endpoint, name);

    /// <summary>Opens a connection, sends CONNECT and returns the client with the CONNACK (any return code).</summary>
    public async Task<(RawMqttClient Client, ConnAck Ack)> ConnectRawAsync(ConnectSpec spec)
    {
        var client = await OpenAsync(spec.ClientId.Length > 0 ? spec.ClientId : "client");
        await client.SendAsync(RawPackets.Connect(spec));
        var ack = await client.ExpectConnAckAsync();
        return (client, ack);
    }

    /// <summary>Connects and asserts CONNACK return code 0.</summary>
    public async Task<RawMqttClient> ConnectAsync(ConnectSpec spec)
    {
        var (client, ack) = await ConnectRawAsync(spec);
        Assert.True(ack.ReturnCode == 0, $"{spec.ClientId}: CONNACK return code {ack.ReturnCode}, expected 0");
        return client;
    }

    public Task<RawMqttClient> ConnectAsync(string clientId, bool cleanSession = true, ushort keepAlive = 60)
        => ConnectAsync(new ConnectSpec { ClientId = clientId, CleanSession = cleanSession, KeepAlive = keepAlive });

    /// <summary>
    /// Proves the server still works after a bad input elsewhere: a fresh client subscribes, publishes at QoS 1 and
    /// receives its own message.
    /// </summary>
    public async Task AssertStillServingAsync()
    {
        await using var probe = await ConnectAsync(Names.ClientId("probe"));
        var topic = Names.Topic("probe");
        await probe.SubscribeAsync((topic, 1));
        await probe.SendAsync(RawPackets.Publish(topic, "alive", qos: 1, packetId: 4242));
        // The PUBACK and the delivered PUBLISH may come in either order.
        var first = await probe.ReceiveAsync();
        var second = await probe.ReceiveAsync();
        Assert.NotNull(first);
        Assert.NotNull(second);
        var kinds = new[] { first.Kind, second.Kind };
        Assert.Contains(PacketKind.PubAck, kinds);
        Assert.Contains(PacketKind.Publish, kinds);
        var publish = ReceivedPublish.Parse(first.Kind == PacketKind.Publish ? first : second);
        Assert.Equal("alive", publish.Text);
    }

    /// <summary>Stops the server, then fails if it logged anything at error level while the tests ran.</summary>
    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _logs.Dispose();
        Assert.True(_logs.Errors.Count == 0, "the server logged errors:\n" + string.Join("\n", _logs.Errors));
    }
}

/// <summary>One server shared by the tests of a class (tests use unique client ids and topics).</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private TestServer? _server;

    public TestServer Server => _server ?? throw new InvalidOperationException("server not started");

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Unique client ids and topics, so tests sharing a server never see each other's traffic.</summary>
public static class Names
{
    /// <summary>The prefix, a dash and 16 hex digits (at most 23 characters for prefixes of up to 6).</summary>
    public static string ClientId(string prefix = "c") => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 17)];

    public static string Topic(string prefix = "t") => $"conf/{prefix}/{Guid.NewGuid():N}";
}
