using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Starling.Client;

/// <summary>Client side of the TLS handshake: CA file trust, client certificate, host name check.</summary>
internal static class TlsHandshake
{
    public static async Task<SslStream> AuthenticateAsync(Socket socket, string host, MqttClientTlsOptions tls, CancellationToken cancellationToken)
    {
        X509Certificate2Collection? caCertificates = null;
        if (tls.CaFile is { } caFile)
        {
            caCertificates = [];
            caCertificates.ImportFromPemFile(caFile);
        }
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false,
            (_, certificate, _, errors) => Validate(certificate, errors, caCertificates, tls.Insecure));
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = tls.ServerName ?? host,
            EnabledSslProtocols = tls.Protocols,
        };
        if (tls.CertFile is { } certFile)
        {
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(certFile, tls.KeyFile)];
        }
        try
        {
            await stream.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return stream;
    }

    private static bool Validate(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? caCertificates, bool insecure)
    {
        if (certificate is null)
        {
            return false;
        }
        if (!insecure && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }
        if (caCertificates is null)
        {
            return (errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0;
        }
        // Trust exactly the given CA file, not the system store.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(caCertificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
