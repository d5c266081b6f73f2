using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Starling.Server.Management;
using Starling.Server.Tls;

namespace Starling.Server;

/// <summary>Operations settings: WebSockets:*, Management:*, SysInterval, Metrics:*, Logging:Format (docs/operations.md).</summary>
internal sealed partial class ServerConfiguration
{
    private static readonly string[] s_webSocketKeys = ["Enabled", "Address", "Port", "Path", "AllowedOrigins"];
    private static readonly string[] s_managementKeys = ["Enabled", "Address", "Port", "ApiKeys", "Dashboard"];
    private static readonly string[] s_managementTlsKeys = ["CertFile", "KeyFile"];
    private static readonly string[] s_metricsKeys = ["Prometheus", "RequireApiKey"];
    private static readonly string[] s_otlpKeys = ["Endpoint", "Protocol", "IntervalSeconds", "Headers"];
    private static readonly string[] s_webSocketTlsKeys = ["CertFile", "KeyFile", "CaFile", "ClientCertificate"];

    private static bool IsKnownOperationsKey(string[] parts) => parts[0].ToUpperInvariant() switch
    {
        "WEBSOCKETS" => (parts.Length == 2 && s_webSocketKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("Tls", StringComparison.OrdinalIgnoreCase) && s_webSocketTlsKeys.Contains(parts[2], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("AllowedOrigins", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)),
        "MANAGEMENT" => (parts.Length == 2 && s_managementKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("Tls", StringComparison.OrdinalIgnoreCase) && s_managementTlsKeys.Contains(parts[2], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("ApiKeys", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)),
        "METRICS" => (parts.Length == 2 && s_metricsKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("Otlp", StringComparison.OrdinalIgnoreCase) && s_otlpKeys.Contains(parts[2], StringComparer.OrdinalIgnoreCase)),
        "SYSINTERVAL" => parts.Length == 1,
        _ => false,
    };

    private OperationsSettings ReadOperations()
    {
        var sys = ReadDouble("SysInterval", 10);
        if (!(sys >= 0 && sys <= 86400))
        {
            throw Bad("SysInterval", "must be a number of seconds between 1 and 86400, or 0 to turn the $SYS topics off");
        }
        var format = (Root["Logging:Format"] ?? "text").Trim().ToLowerInvariant();
        if (format is not ("text" or "json"))
        {
            throw Bad("Logging:Format", "must be text (one line per entry, the default) or json (one JSON object per line)");
        }
        return new OperationsSettings
        {
            SysInterval = TimeSpan.FromSeconds(sys),
            LogFormat = format,
            WebSockets = ReadWebSockets(),
            Management = ReadManagement(),
            Metrics = ReadMetrics(),
        };
    }

    /// <summary>An HTTP listener is on when Enabled says so, or when its Port is set and Enabled is not.</summary>
    private (bool Enabled, IPAddress Address, int Port) ReadHttpListener(string section, int defaultPort)
    {
        var enabled = Root[section + ":Enabled"] is not null ? ReadBool(section + ":Enabled", false) : Root[section + ":Port"] is not null;
        var address = ParseAddress(section + ":Address", Root[section + ":Address"]);
        var port = ReadInt(section + ":Port", defaultPort);
        if (port is < 0 or > 65535)
        {
            throw Bad(section + ":Port", "must be a TCP port between 1 and 65535, or 0 to pick a free port");
        }
        return (enabled, address, port);
    }

    private WebSocketListenerSettings ReadWebSockets()
    {
        var (enabled, address, port) = ReadHttpListener("WebSockets", WebSocketListenerSettings.DefaultPort);
        var path = Root["WebSockets:Path"]?.Trim() ?? WebSocketListenerSettings.DefaultPath;
        if (!path.StartsWith('/') || path.Contains('?', StringComparison.Ordinal) || path.Contains('#', StringComparison.Ordinal))
        {
            throw Bad("WebSockets:Path", "must be a URL path starting with '/', e.g. /mqtt");
        }
        return new WebSocketListenerSettings(enabled, address, port, path)
        {
            Tls = enabled ? ReadWebSocketTls() : null,
            AllowedOrigins = ReadAllowedOrigins(),
        };
    }

    /// <summary>WebSockets:AllowedOrigins: a JSON array or one comma-separated string of origins (scheme://host[:port]) or *.</summary>
    private List<string> ReadAllowedOrigins()
    {
        var origins = new List<string>();
        var section = Root.GetSection("WebSockets:AllowedOrigins");
        if (section.Value is { } joined)
        {
            origins.AddRange(joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        origins.AddRange(section.GetChildren().Select(c => c.Value?.Trim()).OfType<string>().Where(v => v.Length > 0));
        foreach (var origin in origins)
        {
            if (origin != "*" && !(Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                && uri.AbsolutePath == "/" && !origin.TrimEnd('/').EndsWith(':')))
            {
                throw Bad("WebSockets:AllowedOrigins", $"must list origins such as https://app.example.com or http://localhost:3000 (scheme, host and port only), or *; '{origin}' is not one");
            }
        }
        return origins;
    }

    /// <summary>WebSockets:Tls:* makes the WebSocket listener wss://, with the same certificate handling as the TLS MQTT listeners.</summary>
    private TlsListener? ReadWebSocketTls() => ReadHttpTls("WebSockets:Tls:", s_webSocketTlsKeys, WebSocketListenerSettings.ListenerName, "wss://");

    /// <summary>
    /// The TLS of an HTTP listener (WebSockets:Tls:*, Management:Tls:*), with the certificate loading, checks and
    /// reload of the TLS MQTT listeners (<see cref="TlsListener"/>); null when none of its keys is set.
    /// </summary>
    private TlsListener? ReadHttpTls(string Prefix, string[] keys, string listenerName, string scheme)
    {
        if (!keys.Any(k => Root[Prefix + k] is not null))
        {
            return null;
        }
        var cert = ReadPath(Prefix + "CertFile") ?? throw Bad(Prefix + "CertFile", $"must name the PEM file of the server certificate for {scheme}");
        var key = ReadPath(Prefix + "KeyFile") ?? throw Bad(Prefix + "KeyFile", "must name the PEM file of the server certificate's private key");
        var ca = ReadPath(Prefix + "CaFile");
        var modeText = Root[Prefix + "ClientCertificate"]?.Trim() ?? "none";
        if (!Enum.TryParse<ClientCertificateMode>(modeText, ignoreCase: true, out var mode) || !Enum.IsDefined(mode) || int.TryParse(modeText, out _))
        {
            throw Bad(Prefix + "ClientCertificate", "must be none, optional or required");
        }
        if (mode != ClientCertificateMode.None && ca is null)
        {
            throw Bad(Prefix + "CaFile", $"must name the PEM file of the CA that issues client certificates when {Prefix}ClientCertificate is {modeText}");
        }
        foreach (var (k, path) in new[] { ("CertFile", cert), ("KeyFile", key), ("CaFile", ca) })
        {
            if (path is not null && !File.Exists(path))
            {
                throw Bad(Prefix + k, $"must name an existing PEM file, and '{path}' does not exist");
            }
        }
        try
        {
            return new TlsListener(new TlsSettings(listenerName, Prefix, cert, key, ca, mode, UseIdentityAsUsername: false));
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or InvalidOperationException or ArgumentException)
        {
            throw Bad(Prefix + "CertFile", $"with {Prefix}KeyFile cannot be used: {ex.Message}. Give PEM files of a certificate and its private key");
        }
    }

    private ManagementSettings ReadManagement()
    {
        var (enabled, address, port) = ReadHttpListener("Management", ManagementSettings.DefaultPort);
        // Either a JSON array (Management:ApiKeys:0, :1, ...) or one comma-separated string (handy in an environment variable).
        var keys = new List<string>();
        var section = Root.GetSection("Management:ApiKeys");
        if (section.Value is { } joined)
        {
            keys.AddRange(joined.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        }
        foreach (var child in section.GetChildren())
        {
            if (child.Value is { } value && value.Trim().Length > 0)
            {
                keys.Add(value.Trim());
            }
        }
        foreach (var key in keys)
        {
            if (key.Length < 16)
            {
                throw new StarlingStartupException(
                    $"Invalid configuration: an API key in Management:ApiKeys {Origin("Management:ApiKeys")} has {key.Length} characters: " +
                    "API keys must have at least 16 characters (e.g. the output of 'openssl rand -hex 24'). Correct the value and start again.");
            }
        }
        var generated = false;
        if (enabled && keys.Count == 0)
        {
            // No key configured: one random key for this run, logged at start-up, so the API is never open by accident.
            keys.Add(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)));
            generated = true;
        }
        return new ManagementSettings(enabled, address, port, keys)
        {
            Tls = enabled ? ReadHttpTls("Management:Tls:", s_managementTlsKeys, "management", "https://") : null,
            Dashboard = ReadBool("Management:Dashboard", true),
            ApiKeyGenerated = generated,
        };
    }

    private MetricsSettings ReadMetrics()
    {
        Uri? endpoint = null;
        if (Root["Metrics:Otlp:Endpoint"] is { } text && text.Trim().Length > 0)
        {
            if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
            {
                throw Bad("Metrics:Otlp:Endpoint", "must be an http:// or https:// URL of an OpenTelemetry collector, e.g. http://localhost:4317");
            }
        }
        var protocol = (Root["Metrics:Otlp:Protocol"] ?? "grpc").Trim().ToLowerInvariant();
        if (protocol is not ("grpc" or "http/protobuf"))
        {
            throw Bad("Metrics:Otlp:Protocol", "must be grpc (the default) or http/protobuf");
        }
        var interval = ReadDouble("Metrics:Otlp:IntervalSeconds", 15);
        if (!(interval >= 1 && interval <= 3600))
        {
            throw Bad("Metrics:Otlp:IntervalSeconds", "must be a number of seconds between 1 and 3600");
        }
        return new MetricsSettings
        {
            Prometheus = ReadBool("Metrics:Prometheus", true),
            RequireApiKey = ReadBool("Metrics:RequireApiKey", false),
            OtlpEndpoint = endpoint,
            OtlpProtocol = protocol,
            OtlpInterval = TimeSpan.FromSeconds(interval),
            OtlpHeaders = Root["Metrics:Otlp:Headers"],
        };
    }
}
