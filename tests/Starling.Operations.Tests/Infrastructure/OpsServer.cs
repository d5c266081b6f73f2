using Starling.Client;
using Starling.Testing;

namespace Starling.Operations.Tests.Infrastructure;

/// <summary>
/// The operations tests' server: the toolkit's <see cref="TestServer"/> with every operations feature on, each on
/// port 0: MQTT (TCP) on 127.0.0.1, MQTT over WebSockets, and the management port (API, dashboard, /metrics) with
/// <see cref="TestServer.ApiKey"/>; <c>$SYS</c> publishing off unless a test sets <c>SysInterval</c>.
/// </summary>
public static class OpsServer
{
    public const string ApiKey = TestServer.ApiKey;

    public static Task<TestServer> StartAsync(IDictionary<string, string?>? overrides = null, TimeProvider? time = null)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["SysInterval"] = "0" };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }
        return TestServer.StartAsync(new TestServerOptions
        {
            Config = config,
            Args = ["--bind", "127.0.0.1"],
            Management = true,
            WebSockets = true,
            Time = time,
        });
    }

    /// <summary>A Starling.Client MQTT client connected over TCP.</summary>
    public static async Task<MqttClient> ConnectClientAsync(this TestServer server, string clientId, bool cleanSession = true)
    {
        var client = new MqttClient();
        await client.ConnectAsync(new MqttClientOptions { Host = "127.0.0.1", Port = server.Port, ClientId = clientId, CleanSession = cleanSession });
        return client;
    }
}
