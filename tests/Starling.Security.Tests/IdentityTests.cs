using System.Text;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Which identity the ACL sees: pattern substitution (%c/%u), the JWT subject, and what an ACL file alone trusts
/// (issue 16 findings 13, 15, 16).
/// </summary>
public sealed class IdentityTests
{
    private static readonly byte[] s_secret = Encoding.UTF8.GetBytes("a-test-secret-that-is-long-enough-for-hs256");

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Theory]
    [InlineData("alice/inbox", "clients/alice/inbox/x")]
    [InlineData("alice/", "clients/alice//x")]
    public async Task Client_id_with_a_slash_gets_no_pattern_access(string clientId, string topic)
    {
        using var dir = new TempDir();
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "pattern readwrite clients/%c/#\n");
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:AclFile"] = acl });

        await using (var alice = await RawMqttClient.ConnectOkAsync(server.Endpoint, "alice", version: 5))
        {
            Assert.Equal(0x10, await alice.PublishForCodeAsync("clients/alice/x", "own", qos: 1)); // allowed, no subscribers
        }
        // Before the fix: 0x10, the client wrote into alice's namespace (its id spans two levels of the pattern).
        await using var intruder = await RawMqttClient.ConnectOkAsync(server.Endpoint, clientId, version: 5);
        Assert.Equal(0x87, await intruder.PublishForCodeAsync(topic, "forged", qos: 1));
        Assert.Equal(0x87, await intruder.PublishForCodeAsync("clients/" + clientId + "/y", "forged", qos: 1));
    }

    [Fact]
    public async Task Username_with_a_slash_gets_no_pattern_access()
    {
        using var dir = new TempDir();
        var passwords = dir.File("pw");
        Assert.Equal(0, await PasswordFileTests.StarlingPasswd("-c", "-b", passwords, "bob/x", "pw"));
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "pattern readwrite users/%u/#\n");
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = passwords, ["Auth:AclFile"] = acl });
        await using var client = await RawMqttClient.ConnectOkAsync(server.Endpoint, "plain-id", "bob/x", "pw", version: 5);
        Assert.Equal(0x87, await client.PublishForCodeAsync("users/bob/x/state", "forged", qos: 1));
    }

    [Fact]
    public async Task Jwt_without_sub_is_refused_instead_of_trusting_the_CONNECT_username()
    {
        using var dir = new TempDir();
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "user admin\ntopic readwrite #\nuser dev1\ntopic readwrite devices/dev1/#\n");
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Auth:Jwt:Algorithm"] = "HS256",
            ["Auth:Jwt:Secret"] = Encoding.UTF8.GetString(s_secret),
            ["Auth:AclFile"] = acl,
        });
        // A valid token for nobody in particular: before the fix the CONNECT username "admin" became the ACL identity
        // (CONNACK 0, then PUBACK 0x10 on admin's topics).
        var anonymousToken = JwtAuthenticator.CreateHs256($$"""{"exp":{{Now + 600}}}""", s_secret);
        var (client, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "x1", "admin", Encoding.UTF8.GetBytes(anonymousToken), version: 5);
        await client.DisposeAsync();
        Assert.Equal(0x86, code);
        var emptySub = JwtAuthenticator.CreateHs256($$"""{"sub":"","exp":{{Now + 600}}}""", s_secret);
        (client, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "x2", "admin", Encoding.UTF8.GetBytes(emptySub), version: 4);
        await client.DisposeAsync();
        Assert.Equal(4, code);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "AuthenticationFailed", "'sub'"));

        // With a subject, the subject is the identity whatever the CONNECT username says.
        var dev1 = JwtAuthenticator.CreateHs256($$"""{"sub":"dev1","exp":{{Now + 600}}}""", s_secret);
        (client, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, "x3", "admin", Encoding.UTF8.GetBytes(dev1), version: 5);
        await using (client)
        {
            Assert.Equal(0, code);
            Assert.Equal(0x10, await client.PublishForCodeAsync("devices/dev1/t", "ok", qos: 1));
            Assert.Equal(0x87, await client.PublishForCodeAsync("admin/t", "no", qos: 1));
        }
    }

    [Fact]
    public async Task Jwt_identity_claim_can_be_configured()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Auth:Jwt:Algorithm"] = "HS256",
            ["Auth:Jwt:Secret"] = Encoding.UTF8.GetString(s_secret),
            ["Auth:Jwt:UsernameClaim"] = "preferred_username",
        });
        var withClaim = JwtAuthenticator.CreateHs256($$"""{"sub":"1234","preferred_username":"carol","exp":{{Now + 600}}}""", s_secret);
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "u", withClaim));
        var subOnly = JwtAuthenticator.CreateHs256($$"""{"sub":"1234","exp":{{Now + 600}}}""", s_secret);
        Assert.Equal(4, await PasswordFileTests.Code(server.Endpoint, "u", subOnly));
    }
}
