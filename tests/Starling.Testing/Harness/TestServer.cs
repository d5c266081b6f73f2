using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Starling.Server;

namespace Starling.Testing;

/// <summary>
/// The one in-process server harness: a Starling server started in-process on ephemeral ports (memory store unless
/// the test configures one), plus helpers to reach it. Disposing it stops the server and then fails the test if the
/// server logged at error level, unless <see cref="TestServerOptions.ExpectErrors"/> says the test provokes them.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    /// <summary>The management API key a server started with <see cref="TestServerOptions.Management"/> accepts.</summary>
    public const string ApiKey = "test-api-key-0123456789abcdef";

    private readonly TestServerOptions _options;
    private readonly Lazy<HttpClient> _http;
    private readonly Lazy<HttpClient> _api;

    private TestServer(StarlingServer server, CapturingLoggerProvider logs, TestServerOptions options)
    {
        Server = server;
        Logs = logs;
        _options = options;
        var endpoint = server.MqttEndpoints.FirstOrDefault(e => e.AddressFamily == AddressFamily.InterNetwork)
            ?? server.MqttEndpoints[0];
        Endpoint = Loopback(endpoint);
        _http = new(() => ManagementClient(apiKey: null));
        _api = new(() => ManagementClient(ApiKey));
    }

    public StarlingServer Server { get; }

    /// <summary>What the server logged (every level; <see cref="CapturingLoggerProvider.Errors"/> for the error check).</summary>
    public CapturingLoggerProvider Logs { get; }

    /// <summary>The first MQTT endpoint (IPv4 preferred), a wildcard address turned into loopback.</summary>
    public IPEndPoint Endpoint { get; }

    /// <summary>The port of <see cref="Endpoint"/>.</summary>
    public int Port => Endpoint.Port;

    /// <summary>The management endpoint (API, dashboard, /metrics) as loopback; null when Management is off.</summary>
    public IPEndPoint? Management => Server.ManagementEndpoint is { } e ? Loopback(e) : null;

    /// <summary>The MQTT over WebSockets endpoint as loopback; null when WebSockets is off.</summary>
    public IPEndPoint? WebSocket => Server.WebSocketEndpoint is { } e ? Loopback(e) : null;

    /// <summary>MQTT over WebSockets URL (<c>ws://host:port/mqtt</c>); throws when WebSockets is off.</summary>
    public string WebSocketUrl => $"ws://{WebSocket ?? throw new InvalidOperationException("WebSocket port not bound")}/mqtt";

    /// <summary>The dashboard's URL (the management port's root); throws when Management is off.</summary>
    public string DashboardUrl => $"http://{Management ?? throw new InvalidOperationException("management port not bound")}/";

    /// <summary>An HTTP client for the management port without credentials (disposed with the server).</summary>
    public HttpClient Http => _http.Value;

    /// <summary>An HTTP client for the management port sending <see cref="ApiKey"/> as a bearer token (disposed with the server).</summary>
    public HttpClient Api => _api.Value;

    /// <summary>The clock the broker runs on (the one passed in <see cref="TestServerOptions.Time"/>, else the system's).</summary>
    public TimeProvider Time => _options.Time ?? TimeProvider.System;

    /// <summary>A wildcard address (0.0.0.0, ::) as the matching loopback address, so a client can connect to it.</summary>
    public static IPEndPoint Loopback(IPEndPoint endpoint)
    {
        if (endpoint.Address.Equals(IPAddress.Any))
        {
            return new IPEndPoint(IPAddress.Loopback, endpoint.Port);
        }
        return endpoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, endpoint.Port) : endpoint;
    }

    /// <summary>Starts a server with <c>--port 0</c>, memory storage and the given configuration keys.</summary>
    public static Task<TestServer> StartAsync(IDictionary<string, string?>? overrides = null)
        => StartAsync(new TestServerOptions { Config = overrides });

    /// <summary>
    /// Starts a server with its SQLite store in <paramref name="dataDirectory"/> (memory mode when null), bound to
    /// 127.0.0.1, with the given configuration keys: the storage tests' restart and recovery cases.
    /// </summary>
    public static Task<TestServer> StartWithStoreAsync(string? dataDirectory, IDictionary<string, string?>? config = null, TimeProvider? time = null)
        => StartAsync(new TestServerOptions { DataDirectory = dataDirectory, Config = config, Args = ["--bind", "127.0.0.1"], Time = time });

    /// <summary>Starts a server as <paramref name="options"/> say.</summary>
    public static async Task<TestServer> StartAsync(TestServerOptions options)
    {
        // Memory mode unless a test asks for storage: tests stay fast, independent, and write nothing to the working directory.
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["Storage:Mode"] = "memory" };
        if (options.Management)
        {
            config["Management:Port"] = "0";
            config["Management:ApiKeys:0"] = ApiKey;
        }
        if (options.WebSockets)
        {
            config["WebSockets:Port"] = "0";
        }
        if (options.DataDirectory is not null)
        {
            config.Remove("Storage:Mode"); // the default mode: the embedded SQLite store
            config["Storage:DataDirectory"] = options.DataDirectory;
        }
        foreach (var (key, value) in options.Config ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        var logs = new CapturingLoggerProvider(options.LogLevel);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string[] args = ["--port", "0", .. options.Args];
        var server = await StarlingServer.StartAsync(args, config, logs, options.Time, cts.Token);
        return new TestServer(server, logs, options);
    }

    private HttpClient ManagementClient(string? apiKey)
    {
        var client = new HttpClient { BaseAddress = new Uri(DashboardUrl), Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return client;
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

    /// <summary>
    /// Stops the server, then fails if it logged anything at error level while the tests ran (unless the options
    /// expect errors).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_http.IsValueCreated)
        {
            _http.Value.Dispose();
        }
        if (_api.IsValueCreated)
        {
            _api.Value.Dispose();
        }
        await Server.DisposeAsync();
        Logs.Dispose();
        if (!_options.ExpectErrors)
        {
            Assert.True(Logs.Errors.Count == 0, "the server logged errors:\n" + string.Join("\n", Logs.Errors));
        }
    }
}

/// <summary>How <see cref="TestServer.StartAsync(TestServerOptions)"/> starts the server.</summary>
public sealed record TestServerOptions
{
    /// <summary>Configuration keys (e.g. <c>Limits:MaxConnections</c>, <c>Management:Port</c>, <c>WebSockets:Port</c>, TLS listeners), applied last.</summary>
    public IDictionary<string, string?>? Config { get; init; }

    /// <summary>Command-line arguments after <c>--port 0</c> (e.g. <c>--bind 127.0.0.1</c>, <c>-c file.json</c>).</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>A SQLite store in this folder; null (the default) keeps the memory store.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>The broker's clock, e.g. a <c>FakeTimeProvider</c> the test advances; null is the system clock.</summary>
    public TimeProvider? Time { get; init; }

    /// <summary>Opens the management port (API, dashboard, /metrics) on port 0, accepting <see cref="TestServer.ApiKey"/>.</summary>
    public bool Management { get; init; }

    /// <summary>Opens the MQTT over WebSockets port on port 0.</summary>
    public bool WebSockets { get; init; }

    /// <summary>The lowest level <see cref="TestServer.Logs"/> keeps (Information unless a test wants Debug lines in its diagnostics).</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>The test provokes errors on purpose: do not fail at teardown when the server logged some.</summary>
    public bool ExpectErrors { get; init; }
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

    public static string Topic(string prefix = "t") => $"test/{prefix}/{Guid.NewGuid():N}";
}
