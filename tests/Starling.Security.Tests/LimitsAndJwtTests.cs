using System.Security.Cryptography;
using System.Text;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

public sealed class LimitsAndJwtTests
{
    private static readonly byte[] s_secret = Encoding.UTF8.GetBytes("a-test-secret-that-is-long-enough-for-hs256");

    private static string Token(string payload) => JwtAuthenticator.CreateHs256(payload, s_secret);

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Fact]
    public async Task Jwt_tokens_are_checked_and_their_topic_claims_enforced()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Auth:Jwt:Algorithm"] = "HS256",
            ["Auth:Jwt:Secret"] = Encoding.UTF8.GetString(s_secret),
            ["Auth:Jwt:Issuer"] = "starling-tests",
        });
        var good = Token($$"""{"sub":"dev1","iss":"starling-tests","exp":{{Now + 600}},"clientid":"dev1","pub":["devices/dev1/#"],"subs":["commands/dev1/+"]}""");
        var (client, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "dev1", "anything", Encoding.UTF8.GetBytes(good), version: 5);
        await using (client)
        {
            Assert.Equal(0, code);
            Assert.Equal(0x10, await client.PublishForCodeAsync("devices/dev1/temp", "21", qos: 1)); // no subscribers: allowed
            Assert.Equal(0x87, await client.PublishForCodeAsync("devices/dev2/temp", "21", qos: 1));
            Assert.Equal(1, await client.SubscribeForCodeAsync("commands/dev1/reboot", 1));
            Assert.Equal(0x87, await client.SubscribeForCodeAsync("commands/#", 1));
        }

        var header = JwtAuthenticator.EncodeBase64Url("""{"alg":"none","typ":"JWT"}"""u8);
        var body = JwtAuthenticator.EncodeBase64Url(Encoding.UTF8.GetBytes($$"""{"iss":"starling-tests","exp":{{Now + 600}}}"""));
        var refused = new[]
        {
            header + "." + body + ".",                                                       // alg none
            Token($$"""{"iss":"starling-tests","exp":{{Now - 3600}}}"""),                    // expired
            Token($$"""{"iss":"starling-tests","exp":{{Now + 600}},"nbf":{{Now + 3600}}}"""), // not yet valid
            Token($$"""{"iss":"someone-else","exp":{{Now + 600}}}"""),                       // issuer
            JwtAuthenticator.CreateHs256($$"""{"iss":"starling-tests","exp":{{Now + 600}}}""", RandomNumberGenerator.GetBytes(48)), // other key
            good[..^2] + (good[^2] == 'A' ? "B" : "A") + good[^1],                            // tampered signature
        };
        foreach (var token in refused)
        {
            var (c, refusedCode) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "dev1", "anything", Encoding.UTF8.GetBytes(token), version: 5);
            await c.DisposeAsync();
            Assert.True(refusedCode == 0x86, $"token {token} got CONNACK {refusedCode}");
        }
        // The client id claim binds the token to one client.
        var (other, otherCode) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "dev2", "anything", Encoding.UTF8.GetBytes(good), version: 4);
        await other.DisposeAsync();
        Assert.Equal(5, otherCode);
    }

    [Fact]
    public async Task Rs256_tokens_need_the_configured_key_and_alg_confusion_fails()
    {
        using var dir = new TempDir();
        using var rsa = RSA.Create(2048);
        var keyFile = dir.File("jwt.pub.pem");
        await File.WriteAllTextAsync(keyFile, rsa.ExportSubjectPublicKeyInfoPem());
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:Jwt:Algorithm"] = "RS256", ["Auth:Jwt:PublicKeyFile"] = keyFile });
        var signed = JwtAuthenticator.EncodeBase64Url("""{"alg":"RS256","typ":"JWT"}"""u8) + "." + JwtAuthenticator.EncodeBase64Url(Encoding.UTF8.GetBytes($$"""{"sub":"u","exp":{{Now + 600}}}"""));
        var token = signed + "." + JwtAuthenticator.EncodeBase64Url(rsa.SignData(Encoding.ASCII.GetBytes(signed), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "u", token));
        // HS256 signed with the public key's text as the secret (the classic confusion attack) is refused.
        var confused = JwtAuthenticator.CreateHs256($$"""{"exp":{{Now + 600}}}""", Encoding.UTF8.GetBytes(await File.ReadAllTextAsync(keyFile)));
        Assert.Equal(4, await PasswordFileTests.Code(server.Endpoint, "u", confused));
    }

    [Fact]
    public async Task Limits_refuse_with_reason_codes_and_count()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Limits:MaxSubscriptionsPerClient"] = "2",
            ["Limits:MaxTopicLevels"] = "4",
            ["Limits:MaxPublishRate"] = "5",
            ["Limits:PublishBurst"] = "5",
            ["Limits:MaxConnectionsPerAddress"] = "3",
        });
        await using var client = await RawMqttClient.ConnectOkAsync(server.Endpoint, "limited", version: 5);
        Assert.Equal(0, await client.SubscribeForCodeAsync("a", 0));
        Assert.Equal(0, await client.SubscribeForCodeAsync("b", 0));
        Assert.Equal(0, await client.SubscribeForCodeAsync("a", 0)); // re-subscribing an existing filter is not a new one
        Assert.Equal(0x97, await client.SubscribeForCodeAsync("c", 0));
        Assert.Equal(0x90, await client.PublishForCodeAsync("1/2/3/4/5", "deep", qos: 1));
        var codes = new List<int>();
        for (var i = 0; i < 10; i++)
        {
            codes.Add(await client.PublishForCodeAsync("rate/x", "r", qos: 1));
        }
        Assert.Contains(0x97, codes);
        Assert.True(server.Server.Broker.SecurityCounters.PublishRateExceeded > 0);

        // Per address: the fourth connection from 127.0.0.1 is closed before CONNECT is answered.
        await using var two = await RawMqttClient.ConnectOkAsync(server.Endpoint, "two");
        await using var three = await RawMqttClient.ConnectOkAsync(server.Endpoint, "three");
        var (four, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "four");
        await four.DisposeAsync();
        Assert.Equal(-1, code);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "ConnectionsPerAddress", "Limits:MaxConnectionsPerAddress"));
    }

    [Fact]
    public async Task Bad_auth_settings_stop_start_up_naming_the_setting()
    {
        var ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = "/nonexistent/pw" }));
        Assert.Contains("Auth:PasswordFile", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:Jwt:Algorithm"] = "HS256", ["Auth:Jwt:Secret"] = "short" }));
        Assert.Contains("Auth:Jwt:Secret", ex.Message, StringComparison.Ordinal);
        ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() => TestServer.StartAsync(new Dictionary<string, string?>() { ["Limits:MaxMemoryFraction"] = "2" }));
        Assert.Contains("Limits:MaxMemoryFraction", ex.Message, StringComparison.Ordinal);
    }
}
