using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>Settings a test needs that both brokers have (null: the broker's default).</summary>
/// <param name="MaxQueuedMessages">QoS 1/2 messages queued per session past the inflight window (both default to 1000).</param>
public sealed record BrokerSettings(int? MaxQueuedMessages = null);

/// <summary>
/// A broker under test, listening on a free loopback port: Starling itself, or the Mosquitto broker from Debian's
/// package as the behavioural reference. Every interop case runs against both, so that an expectation that does not
/// hold for Mosquitto is caught as a wrong test rather than blamed on Starling.
/// </summary>
public abstract class TestBroker : IAsyncDisposable
{
    public const string Starling = "starling";
    public const string Mosquitto = "mosquitto";

    /// <summary>Theory data: every broker target.</summary>
    public static readonly string[] Targets = [Starling, Mosquitto];

    protected TestBroker(string name, int port)
    {
        Name = name;
        Port = port;
    }

    public string Name { get; }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public string PortText => Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Starts a fresh broker of the named kind; each test gets its own, so no state leaks between tests.</summary>
    public static async Task<TestBroker> StartAsync(string name, BrokerSettings? settings = null) => name switch
    {
        Starling => await StarlingBroker.StartAsync(settings ?? new BrokerSettings()),
        Mosquitto => await MosquittoBroker.StartAsync(settings ?? new BrokerSettings()),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown broker target"),
    };

    /// <summary>What the broker logged last, for failure messages.</summary>
    public abstract string Diagnostics();

    public abstract ValueTask DisposeAsync();

    public override string ToString() => $"{Name} on {Host}:{Port}";

    /// <summary>A port that was free a moment ago (for brokers that cannot listen on port 0 and report it).</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
