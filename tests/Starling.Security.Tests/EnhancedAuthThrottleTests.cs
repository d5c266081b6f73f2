using Microsoft.Extensions.Time.Testing;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;
using static Starling.Security.Tests.EnhancedAuthTests;

namespace Starling.Security.Tests;

/// <summary>
/// The failed-login limits (Limits:MaxFailedLoginsPerUser / PerAddress) for MQTT 5 enhanced authentication (issue 16
/// review): a SCRAM exchange is counted and throttled under the user it names (n=), not the CONNECT's User Name, and
/// re-authentication (AUTH 0x19) is a login attempt like a CONNECT. Real server, raw packets, a $s256$ password file.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class EnhancedAuthThrottleTests
{
    private const string Method = "SCRAM-SHA-256";

    private static async Task<(TempDir Dir, TestServer Server)> StartAsync(int perUser, int perAddress)
    {
        var dir = new TempDir();
        await File.WriteAllTextAsync(dir.File("pw"), string.Concat(new[] { "alice", "bob" }.Select(u => $"{u}:{PasswordHash.CreateScramSha256(u + "-pw")}\n")));
        File.SetUnixFileMode(dir.File("pw"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var server = await TestServer.StartAsync(new TestServerOptions
        {
            Time = new FakeTimeProvider(DateTimeOffset.UtcNow), // the failure window never ends during the test
            Config = new Dictionary<string, string?>
            {
                ["Auth:PasswordFile"] = dir.File("pw"),
                ["Limits:MaxFailedLoginsPerUser"] = perUser.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Limits:MaxFailedLoginsPerAddress"] = perAddress.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        });
        return (dir, server);
    }

    [Fact]
    public async Task Failed_SCRAM_exchanges_count_against_the_SCRAM_user_whatever_the_CONNECT_username()
    {
        var (dir, server) = await StartAsync(perUser: 3, perAddress: 0);
        using var _ = dir;
        await using var __ = server;
        // Three wrong proofs for alice, none with a CONNECT User Name (before: counted under "no username", never limited).
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(0x86, (await ScramFailAsync(server.Endpoint, Method, "alice", "guess-" + i)).Code);
        }
        // The fourth exchange for alice is refused when it names her, before any challenge or proof: even the right
        // password gets CONNACK 0x9F.
        var scram = new ScramClient(Method, "alice", "alice-pw");
        Assert.Equal(0x9F, await FirstConnAckCodeAsync(server.Endpoint, Method, scram.ClientFirst()));
        Assert.Equal(1, server.Server.Broker.SecurityCounters.LoginsThrottled);
        // The limit is the user's, for every way of logging in: a plain CONNECT as alice is throttled too.
        Assert.Equal(0x9F, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 5));
        Assert.Equal(2, server.Server.Broker.SecurityCounters.LoginsThrottled);
        // Another user is not affected.
        var (bob, _) = await ScramConnectAsync(server.Endpoint, Method, "bob", "bob-pw", "bob-1");
        await bob.DisposeAsync();
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "LoginThrottled", "Limits:MaxFailedLoginsPerUser"));
    }

    [Fact]
    public async Task Failed_reauthentications_are_counted_and_then_throttled_with_DISCONNECT_0x9F_MQTT_4_12_1_2()
    {
        var (dir, server) = await StartAsync(perUser: 2, perAddress: 0);
        using var _ = dir;
        await using var __ = server;
        // bob logs in with his own password and guesses alice's through re-authentication: each failure closes the
        // connection [MQTT-4.12.1-2] (DISCONNECT 0x87) and now counts against alice.
        for (var i = 0; i < 2; i++)
        {
            var (client, _) = await ScramConnectAsync(server.Endpoint, Method, "bob", "bob-pw", "guesser-" + i);
            await using (client)
            {
                var guess = new ScramClient(Method, "alice", "guess-" + i);
                await client.SendAsync(AuthPacket(ReAuthenticate, Method, guess.ClientFirst()));
                var challenge = await client.ReceiveAsync();
                Assert.Equal(Auth, challenge?.Kind);
                await client.SendAsync(AuthPacket(ContinueAuthentication, Method, guess.ClientFinal(Props(challenge!.Body, 1).Data!)));
                var disconnect = await client.ReceiveAsync();
                Assert.Equal(PacketKind.Disconnect, disconnect?.Kind);
                Assert.Equal(0x87, disconnect!.Body[0]);
                Assert.Null(await client.ReceiveAsync());
            }
        }
        Assert.Equal(2, server.Server.Broker.SecurityCounters.AuthenticationFailed);

        // Past the limit a re-authentication as alice is refused as soon as it names her, even with the right password
        // (before: AUTH 0x00, so guessing through re-authentication was unlimited): DISCONNECT 0x9F, close.
        var (last, _) = await ScramConnectAsync(server.Endpoint, Method, "bob", "bob-pw", "guesser-last");
        await using (last)
        {
            var right = new ScramClient(Method, "alice", "alice-pw");
            await last.SendAsync(AuthPacket(ReAuthenticate, Method, right.ClientFirst()));
            var disconnect = await last.ReceiveAsync();
            Assert.True(disconnect?.Kind == PacketKind.Disconnect, $"expected DISCONNECT, got {disconnect}");
            Assert.Equal(0x9F, disconnect!.Body[0]);
            Assert.Null(await last.ReceiveAsync());
        }
        Assert.Equal(1, server.Server.Broker.SecurityCounters.LoginsThrottled);
        // The next CONNECT for alice is throttled too (SCRAM and plain); bob is not.
        Assert.Equal(0x9F, await FirstConnAckCodeAsync(server.Endpoint, Method, new ScramClient(Method, "alice", "alice-pw").ClientFirst()));
        Assert.Equal(0x9F, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 5));
        var (bob, _) = await ScramConnectAsync(server.Endpoint, Method, "bob", "bob-pw", "bob-ok");
        await bob.DisposeAsync();
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "re-authentication of client", "too many failed logins"));
    }

    [Fact]
    public async Task Failed_reauthentications_count_against_the_address()
    {
        var (dir, server) = await StartAsync(perUser: 0, perAddress: 2);
        using var _ = dir;
        await using var __ = server;
        for (var i = 0; i < 2; i++)
        {
            var (client, _) = await ScramConnectAsync(server.Endpoint, Method, "bob", "bob-pw", "addr-" + i);
            await using (client)
            {
                var guess = new ScramClient(Method, "alice", "guess-" + i);
                await client.SendAsync(AuthPacket(ReAuthenticate, Method, guess.ClientFirst()));
                var challenge = await client.ReceiveAsync();
                await client.SendAsync(AuthPacket(ContinueAuthentication, Method, guess.ClientFinal(Props(challenge!.Body, 1).Data!)));
                Assert.Equal(0x87, (await client.ReceiveAsync())!.Body[0]);
            }
        }
        // 127.0.0.1 has used its failures: any login with credentials from it is refused unchecked.
        Assert.Equal(0x9F, await PasswordFileTests.Code(server.Endpoint, "bob", "bob-pw", 5));
    }
}
