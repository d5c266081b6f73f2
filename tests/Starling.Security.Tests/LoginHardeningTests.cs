using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Failed-login throttling (finding 8), client-supplied strings in the log (finding 12), hash-equivalent SCRAM and the
/// password file's mode (finding 4), and an ACL file without authentication (finding 15), all from issue 16.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class LoginHardeningTests
{
    private static async Task<(TempDir Dir, string File)> PasswordsAsync()
    {
        var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(0, await PasswordFileTests.StarlingPasswd("-c", "-b", file, "alice", "alice-pw"));
        Assert.Equal(0, await PasswordFileTests.StarlingPasswd("-b", file, "bob", "bob-pw"));
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return (dir, file);
    }

    private static Task<TestServer> StartAsync(FakeTimeProvider time, Dictionary<string, string?> config)
        => TestServer.StartAsync(new TestServerOptions { Config = config, Time = time });

    [Fact]
    public async Task Failed_logins_from_one_address_are_throttled_with_0x9F_until_the_window_ends()
    {
        var (dir, file) = await PasswordsAsync();
        using var _ = dir;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(time, new()
        {
            ["Auth:PasswordFile"] = file,
            ["Limits:MaxFailedLoginsPerAddress"] = "3",
            ["Limits:MaxFailedLoginsPerUser"] = "0",
            ["Limits:FailedLoginWindowSeconds"] = "60",
        });
        // Three failures of any kind from 127.0.0.1 (wrong password, another user, an unknown user)...
        Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, "alice", "wrong", 5));
        Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, "bob", "wrong", 5));
        Assert.Equal(4, await PasswordFileTests.Code(server.Endpoint, "mallory", "x", 4));
        // ...and the address is refused at once, even with the right password (before the fix: 0, unlimited guesses).
        Assert.Equal(0x9F, await PasswordFileTests.Code(server.Endpoint, "bob", "bob-pw", 5));
        Assert.Equal(3, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 4));
        Assert.Equal(2, server.Server.Broker.SecurityCounters.LoginsThrottled);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "LoginThrottled", "Limits:MaxFailedLoginsPerAddress"));

        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "bob", "bob-pw", 5));
    }

    [Fact]
    public async Task Failed_logins_for_one_username_are_throttled_whatever_the_address()
    {
        var (dir, file) = await PasswordsAsync();
        using var _ = dir;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(time, new()
        {
            ["Auth:PasswordFile"] = file,
            ["Limits:MaxFailedLoginsPerAddress"] = "0",
            ["Limits:MaxFailedLoginsPerUser"] = "2",
        });
        Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, "alice", "wrong", 5));
        Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, "alice", "wrong", 5));
        Assert.Equal(0x9F, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 5));
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "bob", "bob-pw", 5)); // other users are not affected
        time.Advance(TimeSpan.FromSeconds(61)); // default window: 60 s
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 5));
    }

    [Fact]
    public async Task Client_strings_are_escaped_and_truncated_in_the_log_and_refusal_lines_are_rate_limited()
    {
        var (dir, file) = await PasswordsAsync();
        using var _ = dir;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await StartAsync(time, new()
        {
            ["Auth:PasswordFile"] = file,
            ["Auth:AllowAnonymous"] = "true",
            ["Limits:MaxFailedLoginsPerAddress"] = "0",
            ["Limits:MaxFailedLoginsPerUser"] = "0",
        });

        // A client id that would forge a whole log line, with an ANSI escape sequence.
        var forged = "dev\r\n2026-12-07 12:00:00 info: Starling.Broker.Connection[1009] Client admin connected\u001b[2K\u007f\u0085";
        await using (var client = await RawMqttClient.ConnectOkAsync(server.Endpoint, forged, version: 5))
        {
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "connected from"));
        }
        // A long username full of control characters is refused: its log lines stay short.
        var longName = string.Concat(Enumerable.Repeat("\n\u001b[31mX", 8000));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, longName, "x", 5));
        }
        var lines = server.Logs.Messages;
        Assert.DoesNotContain(lines, l => l.Any(c => char.IsControl(c)));
        Assert.Contains(lines, l => l.Contains(@"dev\r\n2026-12-07", StringComparison.Ordinal) && l.Contains(@"\x1b[2K\x7f\x85", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.True(l.Length < 2000, $"log line of {l.Length} chars"));
        // Before the fix every refused CONNECT logged its own line (20 lines of ~64 KB); now one per interval.
        Assert.True(lines.Count(l => l.Contains("refused (0x86)", StringComparison.Ordinal)) <= 2, string.Join("\n", lines));
    }

    [Fact]
    public async Task Scram_sha_512_over_mosquitto_hashes_is_opt_in()
    {
        var (dir, file) = await PasswordsAsync();
        using var _ = dir;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var server = await StartAsync(time, new() { ["Auth:PasswordFile"] = file }))
        {
            // Before the fix: AUTH 0x18 (the exchange started, and a copy of the $7$ hash is enough to finish it).
            Assert.Equal(0x8C, await EnhancedAuthTests.FirstConnAckCodeAsync(server.Endpoint, "SCRAM-SHA-512", "n,,n=bob,r=abc"u8.ToArray()));
        }
        var ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() =>
            StartAsync(time, new() { ["Auth:PasswordFile"] = file, ["Auth:EnhancedMethods"] = "SCRAM-SHA-512" }));
        Assert.Contains("Auth:AllowHashEquivalentMethods", ex.Message, StringComparison.Ordinal);
        await using (var server = await StartAsync(time, new() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" }))
        {
            var (client, _) = await EnhancedAuthTests.ScramConnectAsync(server.Endpoint, "SCRAM-SHA-512", "bob", "bob-pw", "b512");
            await client.DisposeAsync();
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "SCRAM-SHA-512", "password-equivalent"));
        }
    }

    [Fact]
    public async Task A_password_file_readable_by_others_is_warned_about_at_start()
    {
        var (dir, file) = await PasswordsAsync();
        using var _ = dir;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var server = await StartAsync(time, new() { ["Auth:PasswordFile"] = file }))
        {
            Assert.DoesNotContain(server.Logs.Messages, l => l.Contains("readable by", StringComparison.Ordinal));
        }
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await using (var server = await StartAsync(time, new() { ["Auth:PasswordFile"] = file }))
        {
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), file, "readable by group or others", "chmod 600"));
        }
    }

    [Fact]
    public async Task Acl_file_with_user_blocks_and_no_authentication_stops_start_up_unless_acknowledged()
    {
        using var dir = new TempDir();
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "topic read public/#\nuser admin\ntopic readwrite #\n");
        // Before the fix the server started, and any client claiming "admin" (no password) got admin's rights.
        var ex = await Assert.ThrowsAsync<Starling.Server.StarlingStartupException>(() =>
            TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:AclFile"] = acl }));
        Assert.Contains("Auth:AclFile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Auth:PasswordFile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Auth:TrustUnverifiedUsernames", ex.Message, StringComparison.Ordinal);

        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:AclFile"] = acl, ["Auth:TrustUnverifiedUsernames"] = "true" });
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "Auth:TrustUnverifiedUsernames", "without a password"));
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "admin", null, 5));

        // An ACL file without user blocks (patterns and anonymous rules only) needs no authentication.
        var patterns = dir.File("patterns");
        await File.WriteAllTextAsync(patterns, "topic read public/#\npattern readwrite clients/%c/#\n");
        await using var plain = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:AclFile"] = patterns });
    }
}
