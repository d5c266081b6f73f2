using System.Net;
using System.Net.Sockets;
using Starling.Broker;
using Starling.Broker.Sys;
using Starling.Server.Logging;
using Starling.Server.Metrics;
using Starling.Server.WebSockets;

namespace Starling.Server.Management;

/// <summary>
/// Glue between the host (StarlingServer) and the operations parts: the HTTP listeners (MQTT over WebSockets, the
/// management port), their request pipeline, the $SYS publisher, metrics exporters. One per server, a singleton.
/// </summary>
internal sealed class OperationsRuntime(ServerSettings settings, WebSocketListener? webSockets) : IDisposable
{
    /// <summary>Connection item naming the HTTP listener a connection came in on.</summary>
    public const string ListenerItemKey = "starling.http-listener";
    public const string ManagementListenerName = "management";

    // Reads Kestrel's ListenOptions of the management port (set by OperationsHttp.Listen): a delegate, so that this
    // class names no Kestrel type and a server without HTTP listeners never loads Kestrel.
    private Func<IPEndPoint?>? _managementEndPoint;
    private SysTopicPublisher? _sys;
    private IDisposable? _otlp;

    private OperationsSettings Operations => settings.Operations;

    /// <summary>The operations settings (HTTP listeners, metrics, $SYS).</summary>
    public OperationsSettings Settings => settings.Operations;

    /// <summary>Whether an HTTP listener (WebSockets, management) is on: then the host is a web host with an HTTP pipeline.</summary>
    public bool AnyHttp => Operations.WebSockets.Enabled || Operations.Management.Enabled;

    /// <summary>The bound MQTT over WebSockets endpoint (null when disabled or not started).</summary>
    public IPEndPoint? WebSocketEndpoint => webSockets is { IsBound: true } ? webSockets.EndPoint : null;

    /// <summary>The bound management endpoint (null when disabled or not started).</summary>
    public IPEndPoint? ManagementEndpoint => Operations.Management.Enabled ? _managementEndPoint?.Invoke() : null;

    /// <summary>The running $SYS publisher, if any.</summary>
    public SysTopicPublisher? SysPublisher => _sys;

    /// <summary>The services every server has (metrics); the HTTP ones are <see cref="OperationsHttp.AddServices"/>'s.</summary>
    public void AddServices(IServiceCollection services)
    {
        services.AddSingleton(this);
        services.AddSingleton<StarlingMetrics>();
        services.AddSingleton<PrometheusExporter>();
    }

    /// <summary>Whether <see cref="OperationsHttp.Listen"/> adds a Kestrel endpoint (the management port).</summary>
    public bool UsesKestrel => Operations.Management is { Enabled: true };

    /// <summary>Set by <see cref="OperationsHttp.Listen"/>: reads the management listener's bound end point.</summary>
    public void SetManagementEndPoint(Func<IPEndPoint?> endPoint) => _managementEndPoint = endPoint;

    /// <summary>After Kestrel bound: logs the endpoints, starts $SYS and OTLP; stops them with the host.</summary>
    public void Start(IHost app, MqttBroker broker)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Operations");
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        if (WebSocketEndpoint is { } ws)
        {
            ManagementLog.WebSocketsListening(logger, Operations.WebSockets.Tls is null ? "ws" : "wss", ws, Operations.WebSockets.Path);
        }
        if (ManagementEndpoint is { } management)
        {
            ManagementLog.ManagementListening(logger, Operations.Management.Dashboard ? " and dashboard" : "", Operations.Management.Tls is null ? "http" : "https", management);
            if (Operations.Management.ApiKeyGenerated)
            {
                // The key is a credential: logs are shipped and kept, so it goes to the terminal once (or, when standard
                // error is captured, to an owner-only file), never to the logger.
                GeneratedApiKey.Announce(Operations.Management.ApiKeys[0], settings.Storage.DataDirectory, logger);
            }
        }
        if (Operations.SysInterval > TimeSpan.Zero)
        {
            _sys = new SysTopicPublisher(broker, Operations.SysInterval, "starling " + ServerCommandLine.VersionText(), app.Services.GetRequiredService<BrokerClock>().Time,
                app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Broker.Sys"));
            _sys.Start();
        }
        // Checked here, not only inside: compiling OtlpMetricsExporter.Start loads the OpenTelemetry assemblies.
        if (Operations.Metrics.OtlpEndpoint is not null)
        {
            _otlp = OtlpMetricsExporter.Start(Operations.Metrics, logger);
        }
        // Metrics read the broker when collected; make sure the meter exists even if nothing scraped yet (OTLP).
        app.Services.GetRequiredService<StarlingMetrics>();
        lifetime.ApplicationStopping.Register(() => _sys?.Dispose());
        lifetime.ApplicationStopped.Register(Dispose);
    }

    public void Dispose()
    {
        _sys?.Dispose();
        _otlp?.Dispose();
        Operations.WebSockets.Tls?.Dispose();
        Operations.Management.Tls?.Dispose();
    }

    /// <summary>A bind failure of one of the HTTP listeners, explained; null when they can all be bound.</summary>
    public StarlingStartupException? BindError(SocketError? error, Exception ex)
    {
        foreach (var (name, key, enabled, address, port) in new[]
        {
            ("WebSockets", "WebSockets:Port", Operations.WebSockets.Enabled, Operations.WebSockets.Address, Operations.WebSockets.Port),
            ("management", "Management:Port", Operations.Management.Enabled, Operations.Management.Address, Operations.Management.Port),
        })
        {
            if (!enabled || port == 0 || CanBind(address, port))
            {
                continue;
            }
            var where = $"{new IPEndPoint(address, port)} ({name} listener)";
            var message = error switch
            {
                SocketError.AddressAlreadyInUse => $"Cannot listen on {where}: the address is already in use. Stop that process, choose another {key}, or turn the listener off.",
                SocketError.AccessDenied => $"Cannot listen on {where}: permission denied. Choose another {key} (above 1023).",
                _ => $"Cannot listen on {where}: {ex.InnerException?.Message ?? ex.Message}",
            };
            return new StarlingStartupException(message, ex);
        }
        return null;
    }

    private static bool CanBind(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
