using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Starling.Testing;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>
/// Starling as an interop target: the toolkit's in-process <see cref="TestServer"/> on 127.0.0.1, port 0, memory store,
/// its log captured from Debug up. Teardown fails the test when the server logged anything at error level: a client's
/// mistake or a killed client is not a server error.
/// </summary>
public sealed class StarlingBroker : TestBroker
{
    private const int TailSize = 60;
    private readonly TestServer _server;

    private StarlingBroker(TestServer server)
        : base(Starling, server.Port)
    {
        _server = server;
    }

    public static async Task<StarlingBroker> StartAsync(BrokerSettings settings)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (settings.MaxQueuedMessages is { } maxQueued)
        {
            config["Limits:MaxQueuedMessages"] = maxQueued.ToString(CultureInfo.InvariantCulture);
        }

        var server = await TestServer.StartAsync(new TestServerOptions { Config = config, Args = ["--bind", "127.0.0.1"], LogLevel = LogLevel.Debug });
        var endpoint = server.Endpoint;
        if (endpoint.AddressFamily != AddressFamily.InterNetwork || !endpoint.Address.Equals(IPAddress.Loopback))
        {
            await server.DisposeAsync();
            throw new InvalidOperationException($"Starling listens on {endpoint}, expected 127.0.0.1");
        }

        return new StarlingBroker(server);
    }

    public override string Diagnostics()
        => "\n  last Starling log lines:\n    " + _server.Logs.Tail(TailSize).Replace("\n", "\n    ", StringComparison.Ordinal);

    /// <summary>Stops the server (30 s at most); <see cref="TestServer.DisposeAsync"/> fails the test on error-level log lines.</summary>
    public override async ValueTask DisposeAsync() => await _server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
}
