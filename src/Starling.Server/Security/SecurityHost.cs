using Microsoft.AspNetCore.Connections;
using Starling.Server.Tls;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Security;

/// <summary>Glue between the host and the security parts: starts the reloaders, passes client certificates to the broker.</summary>
internal static class SecurityHost
{
    /// <summary>Starts watching the auth files (SIGHUP and file changes); stops with the host.</summary>
    public static void Start(WebApplication app, SecuritySettings settings, Starling.Broker.MqttBroker broker)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Security");
        if (settings.Passwords is not null || settings.Acl is not null)
        {
            settings.Reloader = new AuthFileReloader(settings, logger, broker);
        }
        app.Lifetime.ApplicationStopped.Register(settings.Dispose);
    }

    /// <summary>Adds the validated TLS client certificate (and the username it gives) to what the broker knows.</summary>
    public static ConnectionInfo WithCertificate(ConnectionContext connection, ConnectionInfo info)
        => connection.Features.Get<MqttClientCertificateFeature>() is { } feature
            ? info with { ClientCertificate = feature.Certificate, CertificateUsername = feature.Username }
            : info;
}
