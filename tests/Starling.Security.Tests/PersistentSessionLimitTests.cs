using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Limits:MaxPersistentSessionsPerAddress and Limits:MaxPersistentSessionsPerUser (issue 16 review, finding 1): one
/// anonymous address or one account cannot fill Limits:MaxSessions with persistent sessions that stay for a week. A new
/// persistent session past the owner's cap gets CONNACK 0x97 (v5) / 3 (3.1.1); clean sessions, resumed sessions and
/// other owners are not affected, and the counts follow sessions that expire, end, change owner or are restored.
/// </summary>
public sealed class PersistentSessionLimitTests
{
    private const string Password = "pw";
    private static readonly byte[] s_password = Encoding.UTF8.GetBytes(Password);
    private static readonly IPAddress s_otherHost = IPAddress.Parse("127.0.0.2");

    private static Dictionary<string, string?> Config(TempDir dir, params (string Key, string Value)[] settings)
    {
        File.WriteAllText(dir.File("pw"), string.Concat(new[] { "alice", "bob" }.Select(u => $"{u}:{PasswordHash.Create(Password)}\n")));
        var config = new Dictionary<string, string?> { ["Auth:PasswordFile"] = dir.File("pw"), ["Auth:AllowAnonymous"] = "true" };
        foreach (var (key, value) in settings)
        {
            config[key] = value;
        }
        return config;
    }

    [Fact]
    public async Task New_persistent_session_past_MaxPersistentSessionsPerAddress_gets_0x97_and_3_while_clean_resumed_and_other_owners_connect_section_3_2_2_2()
    {
        using var dir = new TempDir();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions
        {
            Config = Config(dir, ("Limits:MaxPersistentSessionsPerAddress", "3")),
            Time = time,
        });
        var a1 = Names.ClientId("a1");
        var a2 = Names.ClientId("a2");
        var a3 = Names.ClientId("a3");
        Assert.Equal(0, await CodeAsync(server, a1, version: 4, expiry: 1));
        Assert.Equal(0, await CodeAsync(server, a2, version: 5, expiry: 60));
        Assert.Equal(0, await CodeAsync(server, a3, version: 5, expiry: 3600));
        await OfflineAsync(server, sessions: 3);

        // The address holds its cap: a new persistent session is refused in both versions, counted and logged.
        Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("a4"), version: 5, expiry: 60));
        Assert.Equal(3, await CodeAsync(server, Names.ClientId("a4"), version: 4, expiry: 1));
        Assert.Equal(2, Interlocked.Read(ref server.Server.Broker.Counters.PersistentSessionsRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "PersistentSessions", "Limits:MaxPersistentSessionsPerAddress"));

        // Clean sessions, resuming an own session and restarting an own session with Clean Start are still accepted.
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("c5"), version: 5, expiry: 0));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("c4"), version: 4, expiry: 0));
        var (resumed, resumedCode, present) = await OpenAsync(server, a1, version: 4, expiry: 1);
        await resumed.DisposeAsync();
        Assert.Equal((0, true), (resumedCode, present));
        Assert.Equal(0, await CodeAsync(server, a3, version: 5, expiry: 3600, cleanStart: true));
        // Another identity and another address each get their own new persistent session.
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("alice"), version: 5, expiry: 3600, user: "alice"));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("other"), version: 5, expiry: 3600, from: s_otherHost));
        Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("a4"), version: 5, expiry: 60));
        await OfflineAsync(server, sessions: 5);

        // a2 expires (60 s): the address may create one again.
        time.Advance(TimeSpan.FromSeconds(61));
        server.Server.Broker.Tick();
        await OfflineAsync(server, sessions: 4);
        var a4 = Names.ClientId("a4");
        var (holder, holderCode, _) = await OpenAsync(server, a4, version: 5, expiry: 60);
        Assert.Equal(0, holderCode);
        Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("a5"), version: 5, expiry: 60));

        // A DISCONNECT that sets the expiry to 0 ends a4's session: room again.
        await holder.SendAsync(Packets5.Disconnect(0, new Props().U32(Prop.SessionExpiryInterval, 0)));
        await holder.ExpectClosedAsync();
        await holder.DisposeAsync();
        await OfflineAsync(server, sessions: 4);
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("a5"), version: 5, expiry: 60));
        Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("a6"), version: 5, expiry: 60));

        // A user takes over a1 (anonymously created, so it is replaced): a1 changes owner and the address has room.
        Assert.Equal(0, await CodeAsync(server, a1, version: 5, expiry: 3600, user: "alice"));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("a6"), version: 5, expiry: 60));
    }

    [Fact]
    public async Task New_persistent_session_past_MaxPersistentSessionsPerUser_is_refused_for_that_user_only()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir, ("Limits:MaxPersistentSessionsPerUser", "2")));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("u1"), version: 5, expiry: 3600, user: "alice"));
        // From another address: the cap is the identity's, wherever it connects from.
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("u2"), version: 4, expiry: 1, user: "alice", from: s_otherHost));
        await OfflineAsync(server, sessions: 2);

        Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("u3"), version: 5, expiry: 3600, user: "alice"));
        Assert.Equal(3, await CodeAsync(server, Names.ClientId("u3"), version: 4, expiry: 1, user: "alice"));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("u3"), version: 5, expiry: 0, user: "alice"));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("b1"), version: 5, expiry: 3600, user: "bob"));
        Assert.Equal(0, await CodeAsync(server, Names.ClientId("n1"), version: 5, expiry: 3600));
        Assert.Equal(2, Interlocked.Read(ref server.Server.Broker.Counters.PersistentSessionsRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "PersistentSessions", "Limits:MaxPersistentSessionsPerUser"));
    }

    [Fact]
    public async Task Persistent_session_counts_are_restored_after_a_restart_from_the_store()
    {
        using var dir = new TempDir();
        var data = dir.File("data");
        var config = Config(dir, ("Limits:MaxPersistentSessionsPerAddress", "2"));
        var kept = Names.ClientId("kept");
        var dropped = Names.ClientId("dropped");
        await using (var server = await TestServer.StartWithStoreAsync(data, config))
        {
            Assert.Equal(0, await CodeAsync(server, kept, version: 5, expiry: 3600));
            Assert.Equal(0, await CodeAsync(server, dropped, version: 4, expiry: 1));
            Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("third"), version: 5, expiry: 3600));
            await OfflineAsync(server, sessions: 2);
        }

        await using (var server = await TestServer.StartWithStoreAsync(data, config))
        {
            Assert.Equal(2, server.Server.Broker.SessionCount);
            // The restored sessions still count for their address ...
            Assert.Equal(0x97, await CodeAsync(server, Names.ClientId("third"), version: 5, expiry: 3600));
            var (back, code, present) = await OpenAsync(server, kept, version: 5, expiry: 3600);
            await back.DisposeAsync();
            Assert.Equal((0, true), (code, present));
            // ... and leave the count when they end: a clean session on the id discards the old one.
            Assert.Equal(0, await CodeAsync(server, dropped, version: 4, expiry: 0));
            await OfflineAsync(server, sessions: 1);
            Assert.Equal(0, await CodeAsync(server, Names.ClientId("third"), version: 5, expiry: 3600));
        }
    }

    [Theory]
    [InlineData("Limits:MaxPersistentSessionsPerAddress", "-1")]
    [InlineData("Limits:MaxPersistentSessionsPerUser", "-5")]
    [InlineData("Limits:MaxPersistentSessionsPerAddress", "many")]
    public async Task Bad_persistent_session_limits_stop_start_up_naming_the_key(string key, string value)
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => TestServer.StartAsync(new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key, ex.Message, StringComparison.Ordinal);
        Assert.Contains("must be", ex.Message, StringComparison.Ordinal); // the fix, not "unknown setting"
        Assert.DoesNotContain("Unknown setting", ex.Message, StringComparison.Ordinal);
    }

    // Waits until no client is connected and the broker holds `sessions` sessions (closed clean sessions are gone).
    private static Task OfflineAsync(TestServer server, int sessions)
        => Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0 && server.Server.Broker.SessionCount == sessions,
            $"no client connected and {sessions} sessions held");

    private static async Task<int> CodeAsync(TestServer server, string clientId, int version, uint expiry, bool cleanStart = false,
        string? user = null, IPAddress? from = null)
    {
        var (client, code, _) = await OpenAsync(server, clientId, version, expiry, cleanStart, user, from);
        await client.DisposeAsync();
        return code;
    }

    // CONNECT from `from` (127.0.0.1 by default) for a session of `expiry` seconds: 3.1.1 asks for a persistent session
    // with Clean Session 0 when expiry > 0; v5 sends the Session Expiry Interval and `cleanStart`. Returns the client
    // (still open when accepted), the CONNACK code (-1 without one) and Session Present.
    private static async Task<(RawMqttClient Client, int Code, bool Present)> OpenAsync(TestServer server, string clientId, int version, uint expiry,
        bool cleanStart = false, string? user = null, IPAddress? from = null)
    {
        var v5 = version == 5;
        var client = await RawMqttClient.OpenAsync(server.Endpoint, clientId, v5 ? Protocol.ProtocolVersion.V500 : Protocol.ProtocolVersion.V311, from);
        var password = user is null ? null : s_password;
        if (v5)
        {
            var props = expiry > 0 ? new Props().U32(Prop.SessionExpiryInterval, expiry) : Props.None;
            await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = clientId, CleanStart = cleanStart, Properties = props, UserName = user, Password = password }));
            var ack = await client.ExpectConnAck5Async();
            return (client, ack.ReasonCode, ack.SessionPresent);
        }
        await client.SendAsync(RawPackets.Connect(new ConnectSpec { ClientId = clientId, CleanSession = expiry == 0, UserName = user, Password = password }));
        var ack311 = await client.ExpectConnAckAsync();
        return (client, ack311.ReturnCode, ack311.SessionPresent);
    }
}
