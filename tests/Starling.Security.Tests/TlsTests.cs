using System.Globalization;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Starling.Protocol;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>TLS listeners against mosquitto_pub/mosquitto_sub and paho-mqtt, with certificates made at test time.</summary>
public sealed class TlsTests
{
    private static Dictionary<string, string?> TlsConfig(TestPki pki, string clientCertificate = "required", bool identity = false) => new()
    {
        ["Listeners:0:Tls:CertFile"] = pki.Cert("server"),
        ["Listeners:0:Tls:KeyFile"] = pki.Key("server"),
        ["Listeners:0:Tls:CaFile"] = pki.Cert("ca"),
        ["Listeners:0:Tls:ClientCertificate"] = clientCertificate,
        ["Listeners:0:Tls:UseIdentityAsUsername"] = identity ? "true" : "false",
    };

    private static string[] ClientArgs(TestPki pki, TestServer server, string cert) =>
        ["-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "--cafile", pki.Cert("ca"), "--cert", pki.Cert(cert), "--key", pki.Key(cert)];

    [Fact]
    public async Task Mosquitto_clients_and_paho_work_over_TLS_with_client_certificates()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        await using var server = await TestServer.StartAsync(TlsConfig(pki));

        var sub = Tool.RunAsync(Tool.Require("mosquitto_sub"), [.. ClientArgs(pki, server, "client"), "-t", "tls/test", "-C", "1", "-W", "15", "-q", "1"]);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(10), "connected from"));
        var pub = await Tool.RunAsync(Tool.Require("mosquitto_pub"), [.. ClientArgs(pki, server, "client"), "-t", "tls/test", "-m", "over-tls", "-q", "1"]);
        Assert.True(pub.Code == 0, pub.Err);
        var received = await sub;
        Assert.True(received.Code == 0, received.Err);
        Assert.Equal("over-tls", received.Out.Trim());

        var script = $$"""
            import ssl, sys, paho.mqtt.client as mqtt
            c = mqtt.Client("paho-tls")
            c.tls_set(ca_certs="{{pki.Cert("ca")}}", certfile="{{pki.Cert("client")}}", keyfile="{{pki.Key("client")}}", tls_version=ssl.PROTOCOL_TLS_CLIENT)
            c.connect("127.0.0.1", {{server.Port}})
            info = c.publish("tls/paho", "hi", qos=1)
            c.loop_start()
            info.wait_for_publish(timeout=10)
            print("published" if info.is_published() else "not published")
            c.disconnect()
            c.loop_stop()
            """;
        var paho = await Tool.RunAsync("/usr/bin/python3", ["-c", script]);
        Assert.True(paho.Out.Trim() == "published", paho.Out + paho.Err);
    }

    [Theory]
    [InlineData("stranger", "not issued by the configured CA")]
    [InlineData("expired", "expired")]
    [InlineData(null, "no client certificate presented")]
    public async Task Bad_client_certificates_are_refused_with_a_clear_log_line(string? cert, string logged)
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        await using var server = await TestServer.StartAsync(TlsConfig(pki));
        string[] args = cert is null
            ? ["-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "--cafile", pki.Cert("ca")]
            : ClientArgs(pki, server, cert);
        var pub = await Tool.RunAsync(Tool.Require("mosquitto_pub"), [.. args, "-t", "tls/bad", "-m", "x", "-q", "1"]);
        Assert.NotEqual(0, pub.Code);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "TLS client certificate refused", logged));
        Assert.Equal(0, server.Server.Broker.ConnectedClients);
    }

    [Fact]
    public async Task Starling_cli_pub_and_sub_work_over_TLS_and_check_the_server_certificate()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        await using var server = await TestServer.StartAsync(TlsConfig(pki));
        var cli = Path.Combine(AppContext.BaseDirectory, "starling.dll");
        var sub = Tool.RunAsync("dotnet", [cli, "sub", .. ClientArgs(pki, server, "client"), "-t", "tls/cli", "-C", "1", "-W", "15", "-q", "1", "-V", "5"]);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(15), "connected from"));
        var pub = await Tool.RunAsync("dotnet", [cli, "pub", .. ClientArgs(pki, server, "client"), "-t", "tls/cli", "-m", "cli-over-tls", "-q", "1", "--tls-version", "tlsv1.3"]);
        Assert.True(pub.Code == 0, pub.Err);
        var received = await sub;
        Assert.True(received.Code == 0, received.Err);
        Assert.Equal("cli-over-tls", received.Out.Trim());

        // A CA that did not sign the server's certificate: the CLI refuses the server and says so.
        var wrong = await Tool.RunAsync("dotnet", [cli, "pub", "-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture),
            "--cafile", pki.Cert("other-ca"), "--cert", pki.Cert("client"), "--key", pki.Key("client"), "-t", "t", "-m", "x"]);
        Assert.NotEqual(0, wrong.Code);
        Assert.False(string.IsNullOrWhiteSpace(wrong.Err));
    }

    [Fact]
    public async Task Client_trusting_another_CA_refuses_the_server()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        await using var server = await TestServer.StartAsync(TlsConfig(pki, "none"));
        var pub = await Tool.RunAsync(Tool.Require("mosquitto_pub"),
            ["-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "--cafile", pki.Cert("other-ca"), "-t", "t", "-m", "x"]);
        Assert.NotEqual(0, pub.Code);
        var ok = await Tool.RunAsync(Tool.Require("mosquitto_pub"),
            ["-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "--cafile", pki.Cert("ca"), "-t", "t", "-m", "x"]);
        Assert.True(ok.Code == 0, ok.Err);
    }

    [Fact]
    public async Task Identity_as_username_lets_the_certificate_stand_for_the_password()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        var passwords = dir.File("pw");
        await File.WriteAllTextAsync(passwords, "");
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "user alice\ntopic readwrite alice/#\n");
        var config = TlsConfig(pki, identity: true);
        config["Auth:PasswordFile"] = passwords;
        config["Auth:AclFile"] = acl;
        await using var server = await TestServer.StartAsync(config);
        var tls = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = SslProtocols.Tls13,
            ClientCertificates = [X509Certificate2.CreateFromPemFile(pki.Cert("client"), pki.Key("client"))],
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && new X509Certificate2(c).Issuer == pki.Ca.Subject,
        };
        await using var client = await RawMqttClient.OpenTlsAsync(server.Endpoint, tls, "cert-client", ProtocolVersion.V500);
        Assert.Equal(0, (int)(await client.ConnectAsync("cert-client", keepAlive: 60)).ReasonCode);
        Assert.Equal(0x10, await PublishQoS1Async(client, "alice/x", "ok")); // allowed; no subscribers
        Assert.Equal(0x87, await PublishQoS1Async(client, "bob/x", "no"));
    }

    [Fact]
    public async Task Bad_TLS_settings_stop_start_up_naming_the_setting()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        var config = TlsConfig(pki);
        config["Listeners:0:Tls:ClientCertificate"] = "sometimes";
        var ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(config));
        Assert.Contains("Listeners:0:Tls:ClientCertificate", ex.Message, StringComparison.Ordinal);
        config = TlsConfig(pki);
        config["Listeners:0:Tls:KeyFile"] = pki.Key("client");
        ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(config));
        Assert.Contains("Listeners:0:Tls:CertFile", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>QoS 1 PUBLISH; returns the PUBACK's reason code.</summary>
    private static async Task<int> PublishQoS1Async(RawMqttClient client, string topic, string payload)
    {
        var id = client.NextPacketId();
        await client.PublishPacketAsync(topic, payload, QualityOfService.AtLeastOnce, id);
        var ack = await client.ExpectAsync<PubAckPacket>();
        Assert.Equal(id, ack.PacketId);
        return (int)ack.ReasonCode;
    }
}
