using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Starling.Protocol;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Tls:UseIdentityAsUsername takes the username from exactly one CN (or, with Tls:IdentitySource, from the first DNS
/// or URI subject alternative name) and refuses a certificate that gives none or several (issue 16 finding 17).
/// </summary>
public sealed class CertificateIdentityTests
{
    private static Dictionary<string, string?> Config(TestPki pki, string passwords, string acl, string? source = null)
    {
        var config = new Dictionary<string, string?>
        {
            ["Listeners:0:Tls:CertFile"] = pki.Cert("server"),
            ["Listeners:0:Tls:KeyFile"] = pki.Key("server"),
            ["Listeners:0:Tls:CaFile"] = pki.Cert("ca"),
            ["Listeners:0:Tls:ClientCertificate"] = "required",
            ["Listeners:0:Tls:UseIdentityAsUsername"] = "true",
            ["Auth:PasswordFile"] = passwords,
            ["Auth:AclFile"] = acl,
        };
        if (source is not null)
        {
            config["Listeners:0:Tls:IdentitySource"] = source;
        }
        return config;
    }

    private static async Task<(TempDir Dir, TestPki Pki, string Passwords, string Acl)> SetUpAsync()
    {
        var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        pki.IssueClient("two-cn", "CN=device-42, CN=admin");
        pki.IssueClient("no-cn", "O=Acme, OU=Devices");
        pki.IssueClient("san", "CN=ignored-cn", dnsNames: ["device-7.example", "other.example"]);
        pki.IssueClient("uri-san", "CN=ignored-cn", uris: ["urn:device:9"]);
        var passwords = dir.File("pw");
        await File.WriteAllTextAsync(passwords, "");
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl,
            "user admin\ntopic readwrite #\nuser alice\ntopic readwrite alice/#\nuser device-7.example\ntopic readwrite dev7/#\nuser urn:device:9\ntopic readwrite dev9/#\n");
        return (dir, pki, passwords, acl);
    }

    private static async Task<(RawMqttClient Client, int Code)> ConnectAsync(TestServer server, TestPki pki, string cert, ProtocolVersion version)
    {
        var tls = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificates = [X509Certificate2.CreateFromPemFile(pki.Cert(cert), pki.Key(cert))],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && new X509Certificate2(c).Issuer == pki.Ca.Subject,
        };
        var client = await RawMqttClient.OpenTlsAsync(server.Endpoint, tls, "id-" + cert, version);
        var ack = await client.ConnectAsync("id-" + cert, keepAlive: 60);
        return (client, (int)ack.ReasonCode);
    }

    [Theory]
    [InlineData("two-cn", 5, 0x87)]
    [InlineData("two-cn", 4, 0x87)] // 3.1.1 return code 5, which the client decodes as 0x87
    [InlineData("no-cn", 5, 0x87)]
    [InlineData("no-cn", 4, 0x87)]
    public async Task Certificate_without_exactly_one_CN_is_refused(string cert, int version, int expected)
    {
        var (dir, pki, passwords, acl) = await SetUpAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(Config(pki, passwords, acl));
        // Before the fix: CONNACK 0 as user "admin" (the last CN) or as user "" (no CN).
        var (client, code) = await ConnectAsync(server, pki, cert, version == 5 ? ProtocolVersion.V500 : ProtocolVersion.V311);
        await client.DisposeAsync();
        Assert.Equal(expected, code);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "CN"));
        Assert.True(server.Server.Broker.SecurityCounters.AuthenticationFailed >= 1);

        // A certificate with one CN still works.
        var (alice, aliceCode) = await ConnectAsync(server, pki, "client", ProtocolVersion.V500);
        await using (alice)
        {
            Assert.Equal(0, aliceCode);
            Assert.Equal(0x10, await alice.PublishForCodeAsync("alice/x", "ok", qos: 1));
            Assert.Equal(0x87, await alice.PublishForCodeAsync("admin/x", "no", qos: 1));
        }
    }

    [Theory]
    [InlineData("dns-san", "san", "dev7/x")]
    [InlineData("uri-san", "uri-san", "dev9/x")]
    public async Task Identity_can_come_from_the_first_subject_alternative_name(string source, string cert, string allowedTopic)
    {
        var (dir, pki, passwords, acl) = await SetUpAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(Config(pki, passwords, acl, source));
        var (client, code) = await ConnectAsync(server, pki, cert, ProtocolVersion.V500);
        await using (client)
        {
            Assert.Equal(0, code);
            Assert.Equal(0x10, await client.PublishForCodeAsync(allowedTopic, "ok", qos: 1));
            Assert.Equal(0x87, await client.PublishForCodeAsync("alice/x", "no", qos: 1));
        }
        // A certificate without that kind of name is refused.
        var (plain, plainCode) = await ConnectAsync(server, pki, "client", ProtocolVersion.V500);
        await plain.DisposeAsync();
        Assert.Equal(0x87, plainCode);
    }

    [Fact]
    public async Task Unknown_identity_source_stops_start_up_naming_the_setting()
    {
        var (dir, pki, passwords, acl) = await SetUpAsync();
        using var _ = dir;
        var ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(Config(pki, passwords, acl, "email")));
        Assert.Contains("Listeners:0:Tls:IdentitySource", ex.Message, StringComparison.Ordinal);
    }
}
