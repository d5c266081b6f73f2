using System.Net;
using System.Net.Http.Headers;
using Starling.Client;
using Starling.Server;

namespace Starling.Operations.Tests.Infrastructure;

/// <summary>
/// A Starling server in-process with every operations feature on, each on port 0: MQTT (TCP), MQTT over WebSockets,
/// and the management port (API, dashboard, /metrics) with a known API key.
/// </summary>
public sealed class OpsServer : IAsyncDisposable
{
    public const string ApiKey = "test-api-key-0123456789abcdef";

    private OpsServer(StarlingServer server, LogCapture logs)
    {
        Server = server;
        Logs = logs;
        Mqtt = Loopback(server.MqttEndpoints[0]);
        Management = Loopback(server.ManagementEndpoint ?? throw new InvalidOperationException("management port not bound"));
        WebSocket = Loopback(server.WebSocketEndpoint ?? throw new InvalidOperationException("WebSocket port not bound"));
        Http = new HttpClient { BaseAddress = new Uri($"http://{Management}/"), Timeout = TimeSpan.FromSeconds(30) };
        Api = new HttpClient { BaseAddress = new Uri($"http://{Management}/"), Timeout = TimeSpan.FromSeconds(30) };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    public StarlingServer Server { get; }
    public LogCapture Logs { get; }
    public IPEndPoint Mqtt { get; }
    public IPEndPoint Management { get; }
    public IPEndPoint WebSocket { get; }

    /// <summary>Management port without credentials.</summary>
    public HttpClient Http { get; }

    /// <summary>Management port with the API key.</summary>
    public HttpClient Api { get; }

    public string WebSocketUrl => $"ws://{WebSocket}/mqtt";
    public string DashboardUrl => $"http://{Management}/";

    public static async Task<OpsServer> StartAsync(IDictionary<string, string?>? overrides = null, TimeProvider? time = null)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Storage:Mode"] = "memory",
            ["Management:Port"] = "0",
            ["Management:ApiKeys:0"] = ApiKey,
            ["WebSockets:Port"] = "0",
            ["SysInterval"] = "0",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }
        var logs = new LogCapture();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = await StarlingServer.StartAsync(["--port", "0", "--bind", "127.0.0.1"], config, logs, time, cts.Token);
        return new OpsServer(server, logs);
    }

    private static IPEndPoint Loopback(IPEndPoint endpoint)
        => endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.Loopback, endpoint.Port) : endpoint;

    /// <summary>An MQTT client connected over TCP.</summary>
    public async Task<MqttClient> ConnectAsync(string clientId, bool cleanSession = true)
    {
        var client = new MqttClient();
        await client.ConnectAsync(new MqttClientOptions { Host = "127.0.0.1", Port = Mqtt.Port, ClientId = clientId, CleanSession = cleanSession });
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        Api.Dispose();
        await Server.DisposeAsync();
        var errors = Logs.Errors.ToList();
        Assert.True(errors.Count == 0, "the server logged errors:\n" + string.Join("\n", errors));
    }
}

/// <summary>Unique client ids and topics.</summary>
public static class Names
{
    public static string ClientId(string prefix = "c") => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    public static string Topic(string prefix = "t") => $"ops/{prefix}/{Guid.NewGuid():N}";
}

/// <summary>Polls a condition until it holds or the time is up.</summary>
public static class Eventually
{
    public static async Task<T> GetAsync<T>(Func<Task<T>> get, Func<T, bool> until, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var value = await get();
            if (until(value))
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}; last value: {value}");
            }
            await Task.Delay(50);
        }
    }
}
