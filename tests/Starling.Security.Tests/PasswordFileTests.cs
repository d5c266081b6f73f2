using System.Text;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>Password files written by mosquitto_passwd are read by Starling and the other way round; CONNACK codes over the wire.</summary>
public sealed class PasswordFileTests
{
    /// <summary>Runs the real `starling passwd` (the CLI's assembly is copied next to the tests).</summary>
    internal static async Task<int> StarlingPasswd(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "starling.dll");
        var (code, _, _) = await Tool.RunAsync("dotnet", [cli, "passwd", .. args]);
        return code;
    }

    [Fact]
    public async Task Mosquitto_passwd_file_is_accepted_by_Starling_with_the_right_codes()
    {
        using var dir = new TempDir();
        var file = dir.File("pw");
        var passwd = Tool.Require("mosquitto_passwd");
        Assert.Equal(0, (await Tool.RunAsync(passwd, ["-c", "-b", file, "alice", "s3cret"])).Code);
        Assert.Equal(0, (await Tool.RunAsync(passwd, ["-H", "sha512", "-b", file, "old", "legacy"])).Code);
        Assert.Contains("old:$6$", await File.ReadAllTextAsync(file), StringComparison.Ordinal);

        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file });
        foreach (var version in new[] { 4, 5 })
        {
            var v5 = version == 5;
            Assert.Equal(0, await Code(server, "alice", "s3cret", version));
            Assert.Equal(0, await Code(server, "old", "legacy", version));
            Assert.Equal(v5 ? 0x86 : 4, await Code(server, "alice", "wrong", version));
            Assert.Equal(v5 ? 0x86 : 4, await Code(server, "alice", null, version));
            Assert.Equal(v5 ? 0x86 : 4, await Code(server, "mallory", "x", version));
            // Anonymous clients are refused by default once a password file is configured (as Mosquitto 2 does).
            Assert.Equal(v5 ? 0x87 : 5, await Code(server, null, null, version));
        }
        Assert.True(server.Server.Broker.SecurityCounters.AuthenticationFailed >= 6);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(1), "AuthenticationFailed", "wrong password for user 'alice'"));
    }

    [Fact]
    public async Task Starling_passwd_file_is_accepted_by_mosquitto()
    {
        using var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(0, await StarlingPasswd("-c", "-b", file, "alice", "s3cret"));
        Assert.Equal(0, await StarlingPasswd("-b", file, "bob", "pw-of-bob"));
        Assert.Equal(0, await StarlingPasswd("-b", file, "alice", "changed"));
        var text = await File.ReadAllTextAsync(file);
        Assert.Matches(@"^alice:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==\nbob:\$7\$101\$", text);

        await using var mosquitto = await MosquittoProcess.StartAsync(dir.Path, "allow_anonymous false", $"password_file {file}");
        Assert.Equal(0, await Code(mosquitto.Endpoint, "alice", "changed"));
        Assert.Equal(0, await Code(mosquitto.Endpoint, "bob", "pw-of-bob"));
        Assert.NotEqual(0, await Code(mosquitto.Endpoint, "alice", "s3cret"));

        // mosquitto_passwd edits a file that starling passwd wrote, and the result still works in both.
        var passwd = Tool.Require("mosquitto_passwd");
        Assert.Equal(0, (await Tool.RunAsync(passwd, ["-b", file, "carol", "c"])).Code);
        Assert.Equal(0, (await Tool.RunAsync(passwd, ["-D", file, "bob"])).Code);
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file });
        Assert.Equal(0, await Code(server, "alice", "changed", 4));
        Assert.Equal(0, await Code(server, "carol", "c", 5));
        Assert.Equal(4, await Code(server, "bob", "pw-of-bob", 4));
    }

    [Fact]
    public async Task Passwd_command_follows_mosquitto_passwd()
    {
        using var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(1, await StarlingPasswd("-c", "-D", file, "x"));
        Assert.Equal(1, await StarlingPasswd("-b", file, "a:b", "p"));
        Assert.Equal(1, await StarlingPasswd("-b", dir.File("missing"), "u", "p"));
        await File.WriteAllTextAsync(file, "# users\ndave:plain\nerin:pw2\n");
        Assert.Equal(0, await StarlingPasswd("-U", file));
        var parsed = PasswordFile.Load(file);
        Assert.True(parsed.Verify("dave", "plain"u8));
        Assert.True(parsed.Verify("erin", "pw2"u8));
        Assert.False(parsed.Verify("erin", "plain"u8));
        Assert.StartsWith("# users\n", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        // -U again leaves hashed entries alone.
        var before = await File.ReadAllTextAsync(file);
        Assert.Equal(0, await StarlingPasswd("-U", file));
        Assert.Equal(before, await File.ReadAllTextAsync(file));
        Assert.Equal(1, await StarlingPasswd("-D", file, "nobody"));
        Assert.Equal(0, await StarlingPasswd("-D", file, "dave"));
        Assert.False(PasswordFile.Load(file).Contains("dave"));
    }

    [Fact]
    public async Task Reload_on_change_and_on_SIGHUP_keeps_connections_and_survives_a_broken_file()
    {
        using var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(0, await StarlingPasswd("-c", "-b", file, "alice", "one"));
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file });
        await using var connected = await RawMqttClient.ConnectOkAsync(server.Endpoint, "keeper", "alice", "one");

        Assert.Equal(0, await StarlingPasswd("-b", file, "alice", "two"));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "Reloaded the password file", "(file change)"));
        Assert.Equal(0, await Code(server, "alice", "two", 4));
        Assert.Equal(4, await Code(server, "alice", "one", 4));

        await File.WriteAllTextAsync(file, "alice:not-a-hash\n");
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "was not reloaded", "previous version stays in force"));
        Assert.Equal(0, await Code(server, "alice", "two", 4));

        // SIGHUP: the file is replaced without a watcher event being needed.
        Assert.Equal(0, await StarlingPasswd("-c", "-b", file, "alice", "three"));
        var reloads = server.Logs.Lines.Count(l => l.Contains("(SIGHUP)", StringComparison.Ordinal));
        Assert.Equal(0, (await Tool.RunAsync("/bin/kill", ["-HUP", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)])).Code);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "Reloaded the password file", "(SIGHUP)"));
        Assert.True(reloads == 0);
        Assert.Equal(0, await Code(server, "alice", "three", 5));
        await connected.PingAsync(); // asserts the PINGRESP: the connection survived the reloads
    }

    private static Task<int> Code(TestServer server, string? user, string? password, int version)
        => Code(server.Endpoint, user, password, version);

    internal static async Task<int> Code(System.Net.IPEndPoint endpoint, string? user, string? password, int version = 4)
    {
        var (client, code) = await RawMqttClient.ConnectForCodeAsync(endpoint, "c" + Guid.NewGuid().ToString("N")[..10], user,
            password is null ? null : Encoding.UTF8.GetBytes(password), version);
        await client.DisposeAsync();
        return code;
    }
}
