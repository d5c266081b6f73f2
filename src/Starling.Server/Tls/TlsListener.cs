using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Starling.Server.Logging;

namespace Starling.Server.Tls;

/// <summary>Set on a TLS connection that presented a valid client certificate.</summary>
/// <param name="Certificate">The validated client certificate.</param>
/// <param name="Username">With UseIdentityAsUsername: the identity the certificate gives, else null.</param>
/// <param name="IdentityProblem">With UseIdentityAsUsername: why the certificate gives no identity (the CONNECT is refused).</param>
internal sealed record MqttClientCertificateFeature(X509Certificate2 Certificate, string? Username, string? IdentityProblem = null);

/// <summary>
/// One TLS listener: TLS 1.2 and 1.3 with the (reloadable) PEM certificate, and client certificates checked against
/// the configured CA. Every refused handshake is logged with the reason (wrong CA, expired, missing).
/// </summary>
internal sealed class TlsListener : IDisposable
{
    private static readonly Oid s_clientAuth = new("1.3.6.1.5.5.7.3.2");
    private readonly TlsSettings _settings;
    private readonly X509Certificate2Collection? _ca;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public TlsListener(TlsSettings settings)
    {
        _settings = settings;
        Certificates = new CertificateCache(settings);
        if (settings.CaFile is { } caFile)
        {
            _ca = [];
            _ca.ImportFromPemFile(caFile);
            if (_ca.Count == 0)
            {
                throw new InvalidOperationException($"{caFile} holds no PEM certificate");
            }
        }
    }

    public CertificateCache Certificates { get; }

    public TlsSettings Settings => _settings;

    /// <summary>Puts TLS in front of the MQTT handler of <paramref name="listen"/>.</summary>
    public void Configure(ListenOptions listen)
    {
        _logger = listen.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Tls");
        Certificates.Watch(_logger);
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            HandshakeTimeout = TimeSpan.FromSeconds(10),
            OnConnection = context => ValueTask.FromResult(CreateOptions(context.Connection)),
        });
        // After the handshake: make the validated certificate (and the identity it gives) known to the broker.
        listen.Use(next => connection =>
        {
            var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
            if (certificate is not null)
            {
                string? username = null, problem = null;
                if (_settings.UseIdentityAsUsername)
                {
                    username = CertificateIdentity.Of(certificate, _settings.IdentitySource, out problem);
                }
                connection.Features.Set(new MqttClientCertificateFeature(certificate, username, problem));
            }
            return next(connection);
        });
    }

    private SslServerAuthenticationOptions CreateOptions(ConnectionContext connection)
    {
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = Certificates.Current,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = _settings.ClientCertificate != ClientCertificateMode.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (_settings.ClientCertificate != ClientCertificateMode.None)
        {
            var remote = connection.RemoteEndPoint;
            options.RemoteCertificateValidationCallback = (_, certificate, _, _) => ValidateClient(certificate, remote);
        }
        return options;
    }

    private bool ValidateClient(X509Certificate? presented, System.Net.EndPoint? remote)
    {
        if (presented is null)
        {
            if (_settings.ClientCertificate == ClientCertificateMode.Required)
            {
                ServerLog.TlsClientCertificateMissing(_logger, _settings.ListenerName, remote);
                return false;
            }
            return true;
        }
        using var certificate = new X509Certificate2(presented);
        var problem = Check(certificate);
        if (problem is not null)
        {
            ServerLog.TlsClientCertificateRefused(_logger, _settings.ListenerName, remote, problem, certificate.Subject);
            return false;
        }
        return true;
    }

    /// <summary>Null when <paramref name="certificate"/> chains to the CA and is valid now; else why not.</summary>
    private string? Check(X509Certificate2 certificate)
    {
        if (_ca is null)
        {
            return "no CA is configured to check client certificates against (set Tls:CaFile)";
        }
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter)
        {
            return $"certificate expired or not yet valid (valid {certificate.NotBefore.ToUniversalTime():u} to {certificate.NotAfter.ToUniversalTime():u})";
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now;
        if (HasExtendedKeyUsage(certificate))
        {
            chain.ChainPolicy.ApplicationPolicy.Add(s_clientAuth);
        }
        if (chain.Build(certificate))
        {
            return null;
        }
        var status = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (a, s) => a | s.Status);
        if ((status & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return $"certificate not issued by the configured CA ({_settings.CaFile}; issuer {certificate.Issuer})";
        }
        if ((status & X509ChainStatusFlags.NotTimeValid) != 0)
        {
            return "a certificate in its chain has expired";
        }
        if ((status & X509ChainStatusFlags.NotValidForUsage) != 0)
        {
            return "certificate not valid for client authentication (extended key usage)";
        }
        return "certificate chain invalid: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()));
    }

    private static bool HasExtendedKeyUsage(X509Certificate2 certificate)
        => certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Any();

    public void Dispose() => Certificates.Dispose();
}
