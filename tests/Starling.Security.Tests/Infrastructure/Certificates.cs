using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Starling.Security.Tests.Infrastructure;

/// <summary>Test PKI made at test time: a CA, a server certificate for 127.0.0.1/localhost, client certificates, an expired one, another CA.</summary>
public sealed class TestPki
{
    public TestPki(string directory)
    {
        Directory = directory;
        using var caKey = RSA.Create(2048);
        Ca = CreateCa("Starling Test CA", caKey);
        Write("ca", Ca, null);
        using var otherKey = RSA.Create(2048);
        var other = CreateCa("Some Other CA", otherKey);
        Write("other-ca", other, null);
        Issue("server", "localhost", Ca, server: true, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        Issue("client", "alice", Ca, server: false, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        Issue("expired", "alice", Ca, server: false, DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1));
        Issue("stranger", "alice", other, server: false, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public string Directory { get; }
    public X509Certificate2 Ca { get; }

    public string Cert(string name) => Path.Combine(Directory, name + ".crt");
    public string Key(string name) => Path.Combine(Directory, name + ".key");

    private static X509Certificate2 CreateCa(string name, RSA key)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-90), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>
    /// A client certificate issued by the test CA with any subject (e.g. two CNs, or none) and optional DNS / URI
    /// subject alternative names; written as <paramref name="file"/>.crt/.key.
    /// </summary>
    public void IssueClient(string file, string subject, string[]? dnsNames = null, string[]? uris = null)
    {
        Issue(file, subject, Ca, server: false, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), dnsNames, uris);
    }

    private void Issue(string file, string commonName, X509Certificate2 issuer, bool server, DateTimeOffset from, DateTimeOffset to,
        string[]? dnsNames = null, string[]? uris = null)
    {
        using var key = RSA.Create(2048);
        var subject = commonName.Contains('=', StringComparison.Ordinal) || commonName.Length == 0 ? commonName : $"CN={commonName}";
        var request = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            san.AddDnsName("localhost");
            request.CertificateExtensions.Add(san.Build());
        }
        else if (dnsNames is not null || uris is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var name in dnsNames ?? [])
            {
                san.AddDnsName(name);
            }
            foreach (var uri in uris ?? [])
            {
                san.AddUri(new Uri(uri));
            }
            request.CertificateExtensions.Add(san.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = request.Create(issuer, from, to, serial);
        Write(file, cert, key);
    }

    private void Write(string name, X509Certificate2 cert, RSA? key)
    {
        File.WriteAllText(Cert(name), cert.ExportCertificatePem() + "\n");
        if (key is not null)
        {
            File.WriteAllText(Key(name), key.ExportPkcs8PrivateKeyPem() + "\n");
        }
    }
}
