using Microsoft.AspNetCore.Connections;
using Starling.Server.Logging;
using Starling.Server.Tls;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Security;

/// <summary>Glue between the host and the security parts: starts the reloaders, passes client certificates to the broker.</summary>
internal static class SecurityHost
{
    /// <summary>Starts watching the auth files (SIGHUP and file changes); stops with the host.</summary>
    public static void Start(IHost app, SecuritySettings settings, Starling.Broker.MqttBroker broker)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Security");
        WarnAboutRisks(logger, settings);
        if (settings.Passwords is not null || settings.Acl is not null)
        {
            settings.Reloader = new AuthFileReloader(settings, logger, broker);
        }
        app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(settings.Dispose);
    }

    /// <summary>Start-up warnings: a password file others can read, hash-equivalent SCRAM, unverified usernames in the ACL.</summary>
    private static void WarnAboutRisks(ILogger logger, SecuritySettings settings)
    {
        if (settings.Passwords?.File.Path is { } path && !OperatingSystem.IsWindows())
        {
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            var mode = File.GetUnixFileMode(path);
            if ((mode & others) != 0)
            {
                ServerLog.PasswordFileReadableByOthers(logger, path, Convert.ToString((int)mode, 8).PadLeft(4, '0'));
            }
        }
        if (settings.HashEquivalentMethods && settings.Passwords is { } passwords)
        {
            ServerLog.HashEquivalentMethodsEnabled(logger, passwords.File.Path);
        }
        if (settings.TrustUnverifiedUsernames && settings.Acl is { } acl)
        {
            ServerLog.TrustingUnverifiedUsernames(logger, acl.File.Path, string.Join(", ", acl.File.Users.Take(5)));
        }
    }

    /// <summary>Adds the validated TLS client certificate (and the username it gives) to what the broker knows.</summary>
    public static ConnectionInfo WithCertificate(ConnectionContext connection, ConnectionInfo info)
        => connection.Features.Get<MqttClientCertificateFeature>() is { } feature
            ? info with { ClientCertificate = feature.Certificate, CertificateUsername = feature.Username, CertificateIdentityProblem = feature.IdentityProblem }
            : info;
}
