using System.Net;
using Starling.Server.Tls;

namespace Starling.Server.Management;

/// <summary>The operations side of the server: WebSockets, management API and dashboard, $SYS, metrics, log format.</summary>
internal sealed class OperationsSettings
{
    public WebSocketListenerSettings WebSockets { get; init; } = WebSocketListenerSettings.Disabled;
    public ManagementSettings Management { get; init; } = ManagementSettings.Disabled;

    /// <summary>How often the $SYS topics are published; <see cref="TimeSpan.Zero"/> turns them off.</summary>
    public TimeSpan SysInterval { get; init; } = TimeSpan.FromSeconds(10);

    public MetricsSettings Metrics { get; init; } = new();

    /// <summary>"text" (one line per entry, the default) or "json" (one JSON object per line).</summary>
    public string LogFormat { get; init; } = "text";
}

/// <summary>MQTT over WebSockets (WebSockets:*): an HTTP listener that upgrades requests to <see cref="Path"/>.</summary>
internal sealed record WebSocketListenerSettings(bool Enabled, IPAddress Address, int Port, string Path)
{
    public const string ListenerName = "ws";
    public const int DefaultPort = 8083;
    public const string DefaultPath = "/mqtt";

    public static WebSocketListenerSettings Disabled { get; } = new(false, IPAddress.Loopback, DefaultPort, DefaultPath);

    /// <summary>TLS in front of the listener (WebSockets:Tls:*), making it wss://; null for plain ws://.</summary>
    public TlsListener? Tls { get; init; }

    /// <summary>
    /// WebSockets:AllowedOrigins: browser origins (scheme://host[:port], or *) allowed besides the broker's own host
    /// and dashboard; empty by default (WebSocketOrigin).
    /// </summary>
    public IReadOnlyList<string> AllowedOrigins { get; init; } = [];
}

/// <summary>The management HTTP port (Management:*): API, dashboard, /metrics, /health, /ready.</summary>
internal sealed record ManagementSettings(bool Enabled, IPAddress Address, int Port, IReadOnlyList<string> ApiKeys)
{
    public const int DefaultPort = 8080;

    public static ManagementSettings Disabled { get; } = new(false, IPAddress.Loopback, DefaultPort, []);

    /// <summary>Whether the web dashboard is served at / (Management:Dashboard).</summary>
    public bool Dashboard { get; init; } = true;

    /// <summary>True when no key was configured and one was generated at start-up (printed once to the terminal, never logged).</summary>
    public bool ApiKeyGenerated { get; init; }

    /// <summary>TLS in front of the management port (Management:Tls:CertFile/KeyFile), making it https://; null for http://.</summary>
    public TlsListener? Tls { get; init; }
}

/// <summary>Metrics:*: the Prometheus endpoint and the OTLP exporter.</summary>
internal sealed record MetricsSettings
{
    /// <summary>Serve /metrics (Prometheus text format) on the management port.</summary>
    public bool Prometheus { get; init; } = true;

    /// <summary>Whether /metrics needs an API key like /api (it is open by default, like /health).</summary>
    public bool RequireApiKey { get; init; }

    /// <summary>OTLP collector endpoint (Metrics:Otlp:Endpoint); null: no OTLP export.</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>"grpc" (default, port 4317) or "http/protobuf" (port 4318, path /v1/metrics).</summary>
    public string OtlpProtocol { get; init; } = "grpc";

    public TimeSpan OtlpInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Extra headers for the collector, "k1=v1,k2=v2" (e.g. an authorization header).</summary>
    public string? OtlpHeaders { get; init; }
}
