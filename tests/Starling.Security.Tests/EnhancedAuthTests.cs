using System.Net;
using System.Security.Cryptography;
using System.Text;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// MQTT 5 enhanced authentication (4.12, AUTH 3.15) with SCRAM-SHA-256 / SCRAM-SHA-512 against the real server and
/// a password file written by `starling passwd` and the real mosquitto_passwd. Raw packets and a small SCRAM client.
/// </summary>
public sealed class EnhancedAuthTests
{
    internal const PacketKind Auth = (PacketKind)15; // AUTH (PacketKind names it Reserved15)
    internal const int ContinueAuthentication = 0x18, ReAuthenticate = 0x19;

    /// <summary>alice: $s256$ (SCRAM-SHA-256); bob: $7$ by starling passwd; carol: $7$ by the real mosquitto_passwd.</summary>
    private static async Task<(TempDir Dir, string File)> UsersAsync()
    {
        var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(0, await PasswordFileTests.StarlingPasswd("-c", "-b", "--scram-sha-256", file, "alice", "alice-pw"));
        Assert.Equal(0, await PasswordFileTests.StarlingPasswd("-b", file, "bob", "bob-pw"));
        Assert.Equal(0, (await Tool.RunAsync(Tool.Require("mosquitto_passwd"), ["-b", file, "carol", "carol-pw"])).Code);
        var text = await File.ReadAllTextAsync(file);
        Assert.Matches(@"(?m)^alice:\$s256\$4096\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}\$[A-Za-z0-9+/=]{44}$", text);
        Assert.Matches(@"(?m)^carol:\$7\$", text);
        return (dir, file);
    }

    [Theory]
    [InlineData("SCRAM-SHA-256", "alice", "alice-pw")]
    [InlineData("SCRAM-SHA-512", "bob", "bob-pw")]
    [InlineData("SCRAM-SHA-512", "carol", "carol-pw")] // entry written by the real mosquitto_passwd
    public async Task Scram_login_succeeds_and_the_server_signature_verifies(string method, string user, string password)
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Auth:AclFile"] = await AclAsync(dir) });
        var (client, scram) = await ScramConnectAsync(server.Endpoint, method, user, password, "c-" + user);
        await using (client)
        {
            // The client can work now, and its identity drives the ACL (user/<name>/# is allowed, others not).
            Assert.Equal(1, await client.SubscribeForCodeAsync($"user/{user}/#", 1));
            Assert.Equal(0, await client.PublishForCodeAsync($"user/{user}/x", "hi", 1));
            Assert.Equal(0x87, await client.PublishForCodeAsync("user/nobody/x", "hi", 1));
        }
        Assert.NotNull(scram);
    }

    [Fact]
    public async Task Scram_failures_get_0x86_and_an_unknown_user_looks_like_a_known_one()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" });

        // Wrong password: the exchange runs to the proof, then CONNACK 0x86 and close.
        var wrong = await ScramFailAsync(server.Endpoint, "SCRAM-SHA-256", "alice", "nope");
        Assert.Equal(0x86, wrong.Code);
        var unknown = await ScramFailAsync(server.Endpoint, "SCRAM-SHA-256", "mallory", "x");
        Assert.Equal(0x86, unknown.Code);
        // A $7$ user asking for SCRAM-SHA-256 (no material for it) fails the same way.
        Assert.Equal(0x86, (await ScramFailAsync(server.Endpoint, "SCRAM-SHA-256", "bob", "bob-pw")).Code);
        Assert.Equal(0x86, (await ScramFailAsync(server.Endpoint, "SCRAM-SHA-512", "carol", "wrong")).Code);
        var unknown512 = await ScramFailAsync(server.Endpoint, "SCRAM-SHA-512", "mallory", "x");
        Assert.Equal(0x86, unknown512.Code);
        var known512 = await ScramFailAsync(server.Endpoint, "SCRAM-SHA-512", "bob", "wrong");

        // Same shape of server-first for known and unknown users: salt length and iteration count.
        Assert.Equal(Shape(wrong.ServerFirst), Shape(unknown.ServerFirst));
        Assert.Equal(Shape(known512.ServerFirst), Shape(unknown512.ServerFirst));
        // The fake salt is deterministic: probing twice shows the same salt, as for a real user.
        var again = await ScramFailAsync(server.Endpoint, "SCRAM-SHA-256", "mallory", "y");
        Assert.Equal(Attribute(unknown.ServerFirst, 's'), Attribute(again.ServerFirst, 's'));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(1), "SCRAM-SHA-256: wrong password or unknown user 'alice'"));

        // A plain password login against the $s256$ entry works too (the SCRAM keys are recomputed).
        Assert.Equal(0, await PasswordFileTests.Code(server.Endpoint, "alice", "alice-pw", 5));
        Assert.Equal(0x86, await PasswordFileTests.Code(server.Endpoint, "alice", "nope", 5));
    }

    [Fact]
    public async Task Unknown_method_gets_0x8C_and_configured_methods_are_the_only_ones()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using (var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" }))
        {
            Assert.Equal(0x8C, await FirstConnAckCodeAsync(server.Endpoint, "GS2-KRB5", "n,,n=alice,r=abc"u8.ToArray()));
        }
        await using (var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Auth:EnhancedMethods:0"] = "SCRAM-SHA-512" }))
        {
            Assert.Equal(0x8C, await FirstConnAckCodeAsync(server.Endpoint, "SCRAM-SHA-256", "n,,n=alice,r=abc"u8.ToArray()));
            var (client, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-512", "bob", "bob-pw", "b");
            await client.DisposeAsync();
        }
        await using (var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Auth:EnhancedMethods"] = "none" }))
        {
            Assert.Equal(0x8C, await FirstConnAckCodeAsync(server.Endpoint, "SCRAM-SHA-512", "n,,n=bob,r=abc"u8.ToArray()));
        }
        // Bad settings stop the start with a message naming the key.
        var unknown = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Auth:EnhancedMethods"] = "SCRAM-SHA-1" }));
        Assert.Contains("Auth:EnhancedMethods", unknown.Message, StringComparison.Ordinal);
        var noFile = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:EnhancedMethods"] = "SCRAM-SHA-256" }));
        Assert.Contains("Auth:PasswordFile", noFile.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_packet_other_than_AUTH_during_the_exchange_is_a_protocol_error()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" });
        foreach (var intruder in new[] { new byte[] { 0xC0, 0x00 }, Packets5.Subscribe(1, new Sub("a", 0)) })
        {
            await using var client = await RawMqttClient.OpenAsync(server.Endpoint, "client", Starling.Protocol.ProtocolVersion.V500);
            var scram = new ScramClient("SCRAM-SHA-256", "alice", "alice-pw");
            await client.SendAsync(ConnectWithAuth("x", scram.Method, scram.ClientFirst()));
            var challenge = await client.ReceiveAsync();
            Assert.Equal(Auth, challenge?.Kind);
            await client.SendAsync(intruder);
            var ack = await client.ReceiveAsync();
            Assert.Equal(PacketKind.ConnAck, ack?.Kind);
            Assert.Equal(0x82, ack!.Body[1]);
            Assert.Null(await client.ReceiveAsync());
        }
    }

    [Fact]
    public async Task AUTH_with_another_method_is_a_protocol_error_before_and_after_CONNACK()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" });
        await using (var client = await RawMqttClient.OpenAsync(server.Endpoint, "client", Starling.Protocol.ProtocolVersion.V500))
        {
            var scram = new ScramClient("SCRAM-SHA-256", "alice", "alice-pw");
            await client.SendAsync(ConnectWithAuth("x", scram.Method, scram.ClientFirst()));
            var challenge = await client.ReceiveAsync();
            Assert.Equal(Auth, challenge?.Kind);
            var final = scram.ClientFinal(Props(challenge!.Body, 1).Data!);
            await client.SendAsync(AuthPacket(ContinueAuthentication, "SCRAM-SHA-512", final));
            var ack = await client.ReceiveAsync();
            Assert.Equal(PacketKind.ConnAck, ack?.Kind);
            Assert.Equal(0x82, ack!.Body[1]);
            Assert.Null(await client.ReceiveAsync());
        }
        var (connected, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-256", "alice", "alice-pw", "y");
        await using (connected)
        {
            var other = new ScramClient("SCRAM-SHA-512", "bob", "bob-pw");
            await connected.SendAsync(AuthPacket(ReAuthenticate, other.Method, other.ClientFirst()));
            var disconnect = await connected.ReceiveAsync();
            Assert.Equal(PacketKind.Disconnect, disconnect?.Kind);
            Assert.Equal(0x82, disconnect!.Body[0]);
            Assert.Null(await connected.ReceiveAsync());
        }
        // AUTH 0x18 after CONNACK without a re-authentication in progress.
        var (idle, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-256", "alice", "alice-pw", "z");
        await using (idle)
        {
            await idle.SendAsync(AuthPacket(ContinueAuthentication, "SCRAM-SHA-256", "c=biws"u8.ToArray()));
            var disconnect = await idle.ReceiveAsync();
            Assert.Equal(PacketKind.Disconnect, disconnect?.Kind);
            Assert.Equal(0x82, disconnect!.Body[0]);
        }
    }

    [Fact]
    public async Task Reauthentication_succeeds_with_AUTH_0x00_and_refreshes_the_identity()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Auth:AclFile"] = await AclAsync(dir) });
        var (client, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-512", "bob", "bob-pw", "re");
        await using (client)
        {
            Assert.Equal(0x10, await client.PublishForCodeAsync("user/bob/x", "1", 1)); // accepted, no subscribers
            Assert.Equal(0x87, await client.PublishForCodeAsync("user/carol/x", "1", 1));
            // Re-authenticate as carol (same method): server AUTH 0x18, then AUTH 0x00 with the server signature.
            var scram = new ScramClient("SCRAM-SHA-512", "carol", "carol-pw");
            await client.SendAsync(AuthPacket(ReAuthenticate, scram.Method, scram.ClientFirst()));
            var challenge = await client.ReceiveAsync();
            Assert.Equal(Auth, challenge?.Kind);
            Assert.Equal(ContinueAuthentication, challenge!.Body[0]);
            Assert.Equal("SCRAM-SHA-512", Props(challenge.Body, 1).Method);
            // Other packets may flow during a re-authentication.
            Assert.NotNull(await client.PingTimeAsync());
            await client.SendAsync(AuthPacket(ContinueAuthentication, scram.Method, scram.ClientFinal(Props(challenge.Body, 1).Data!)));
            var done = await client.ExpectDeferringPublishesAsync(Auth);
            Assert.NotNull(done);
            Assert.Equal(0x00, done!.Body[0]);
            var (method, data) = Props(done.Body, 1);
            Assert.Equal("SCRAM-SHA-512", method);
            Assert.True(scram.VerifyServerFinal(data!));
            // The new identity's permissions apply.
            Assert.Equal(0x10, await client.PublishForCodeAsync("user/carol/x", "2", 1));
            Assert.Equal(0x87, await client.PublishForCodeAsync("user/bob/x", "2", 1));
        }
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(1), "re-authenticated with SCRAM-SHA-512 as 'carol'"));
    }

    [Fact]
    public async Task Failed_reauthentication_gets_DISCONNECT_and_close()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" });
        var (client, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-256", "alice", "alice-pw", "rf");
        await using (client)
        {
            var scram = new ScramClient("SCRAM-SHA-256", "alice", "wrong");
            await client.SendAsync(AuthPacket(ReAuthenticate, scram.Method, scram.ClientFirst()));
            var challenge = await client.ReceiveAsync();
            Assert.Equal(Auth, challenge?.Kind);
            await client.SendAsync(AuthPacket(ContinueAuthentication, scram.Method, scram.ClientFinal(Props(challenge!.Body, 1).Data!)));
            var disconnect = await client.ReceiveAsync();
            Assert.Equal(PacketKind.Disconnect, disconnect?.Kind);
            Assert.Equal(0x87, disconnect!.Body[0]); // 0x86 is no DISCONNECT code
            Assert.Null(await client.ReceiveAsync());
        }
        Assert.True(server.Server.Broker.SecurityCounters.AuthenticationFailed >= 1);
    }

    [Fact]
    public async Task A_SCRAM_user_removed_from_the_password_file_is_disconnected_with_0x87_and_without_its_will()
    {
        // Issue 16 finding 14: SCRAM logins used to get no credentials to re-check, so a reload that removed the user
        // left the connection (and its will) alive. Now they go like password logins: DISCONNECT 0x87, no will.
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file });
        var willTopic = "will/" + Guid.NewGuid().ToString("N");
        await using var watcher = await server.ConnectAsync(new ConnectSpec { ClientId = "watch", UserName = "bob", Password = "bob-pw"u8.ToArray() });
        await watcher.SubscribeGrantedAsync((willTopic, 1));
        var (removed, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-256", "alice", "alice-pw", "scram-removed", (willTopic, "revoked-will"));
        await using (removed)
        {
            var lines = await File.ReadAllLinesAsync(file);
            await File.WriteAllLinesAsync(file, lines.Where(l => !l.StartsWith("alice:", StringComparison.Ordinal)));
            var disconnect = await removed.ReceiveAsync(TimeSpan.FromSeconds(10));
            Assert.True(disconnect?.Kind == PacketKind.Disconnect, $"expected DISCONNECT, got {disconnect}");
            Assert.Equal(0x87, disconnect!.Body[0]);
            Assert.Null(await removed.ReceiveAsync());
        }
        Assert.Equal(1, server.Server.Broker.SecurityCounters.CredentialsExpired);
        // The will was not published: the next message the watcher gets is the marker.
        await watcher.PublishAsync(willTopic, "marker", 1);
        Assert.Equal("marker", (await watcher.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task After_a_SCRAM_reauthentication_the_reload_checks_the_new_user()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true" });
        var (client, _) = await ScramConnectAsync(server.Endpoint, "SCRAM-SHA-512", "bob", "bob-pw", "scram-reauth");
        await using (client)
        {
            var scram = new ScramClient("SCRAM-SHA-512", "carol", "carol-pw");
            await client.SendAsync(AuthPacket(ReAuthenticate, scram.Method, scram.ClientFirst()));
            var challenge = await client.ReceiveAsync();
            Assert.Equal(Auth, challenge?.Kind);
            await client.SendAsync(AuthPacket(ContinueAuthentication, scram.Method, scram.ClientFinal(Props(challenge!.Body, 1).Data!)));
            Assert.Equal(0x00, (await client.ReceiveAsync())!.Body[0]);

            // Removing the user it first logged in as changes nothing: the connection is carol's now.
            var lines = await File.ReadAllLinesAsync(file);
            await File.WriteAllLinesAsync(file, lines.Where(l => !l.StartsWith("bob:", StringComparison.Ordinal)));
            Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "Reloaded the password file", "0 connected clients no longer valid"));
            Assert.NotNull(await client.PingTimeAsync());

            await File.WriteAllLinesAsync(file, lines.Where(l => !l.StartsWith("bob:", StringComparison.Ordinal) && !l.StartsWith("carol:", StringComparison.Ordinal)));
            var disconnect = await client.ExpectDeferringPublishesAsync(PacketKind.Disconnect);
            Assert.Equal(0x87, disconnect!.Body[0]);
        }
    }

    [Fact]
    public async Task The_connect_timeout_keeps_running_during_the_exchange()
    {
        var (dir, file) = await UsersAsync();
        using var _ = dir;
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?>() { ["Auth:PasswordFile"] = file, ["Auth:AllowHashEquivalentMethods"] = "true", ["Limits:ConnectTimeoutSeconds"] = "1" });
        await using var client = await RawMqttClient.OpenAsync(server.Endpoint, "client", Starling.Protocol.ProtocolVersion.V500);
        var scram = new ScramClient("SCRAM-SHA-256", "alice", "alice-pw");
        await client.SendAsync(ConnectWithAuth("slow", scram.Method, scram.ClientFirst()));
        Assert.Equal(Auth, (await client.ReceiveAsync())?.Kind);
        // No answer to the challenge: closed without CONNACK after the connect timeout.
        Assert.Null(await client.ReceiveAsync(TimeSpan.FromSeconds(6)));
        Assert.NotNull(client.CloseReason);
    }

    [Fact]
    public async Task Mosquitto_passwd_entry_verifies_by_SCRAM_SHA_512_keys_offline()
    {
        // The key fact behind SCRAM-SHA-512 on $7$ entries: the stored hash is SaltedPassword = Hi(password, salt, i).
        using var dir = new TempDir();
        var file = dir.File("pw");
        Assert.Equal(0, (await Tool.RunAsync(Tool.Require("mosquitto_passwd"), ["-c", "-b", file, "dora", "dora-pw"])).Code);
        var parts = (await File.ReadAllTextAsync(file)).Trim().Split(':')[1].Split('$');
        var iterations = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
        var salted = Rfc2898DeriveBytes.Pbkdf2("dora-pw"u8, Convert.FromBase64String(parts[3]), iterations, HashAlgorithmName.SHA512, 64);
        Assert.Equal(Convert.FromBase64String(parts[4]), salted);
        Assert.True(PasswordFile.Load(file).Verify("dora", "dora-pw"u8));
    }

    // ---- helpers ----

    private static async Task<string> AclAsync(TempDir dir)
    {
        var acl = dir.File("acl");
        await File.WriteAllTextAsync(acl, "pattern readwrite user/%u/#\n");
        return acl;
    }

    /// <summary>Full SCRAM exchange that must succeed; checks the CONNACK's method and the server signature.</summary>
    internal static async Task<(RawMqttClient Client, ScramClient Scram)> ScramConnectAsync(IPEndPoint endpoint, string method, string user, string password, string clientId,
        (string Topic, string Payload)? will = null)
    {
        var client = await RawMqttClient.OpenAsync(endpoint, "client", Starling.Protocol.ProtocolVersion.V500);
        var scram = new ScramClient(method, user, password);
        await client.SendAsync(ConnectWithAuth(clientId, method, scram.ClientFirst(), will));
        var challenge = await client.ReceiveAsync();
        Assert.True(challenge?.Kind == Auth, $"expected AUTH, got {challenge}");
        Assert.Equal(ContinueAuthentication, challenge!.Body[0]);
        var (challengeMethod, serverFirst) = Props(challenge.Body, 1);
        Assert.Equal(method, challengeMethod);
        await client.SendAsync(AuthPacket(ContinueAuthentication, method, scram.ClientFinal(serverFirst!)));
        var ack = await client.ReceiveAsync();
        Assert.True(ack?.Kind == PacketKind.ConnAck, $"expected CONNACK, got {ack}");
        Assert.Equal(0, ack!.Body[1]);
        var (ackMethod, serverFinal) = Props(ack.Body, 2);
        Assert.Equal(method, ackMethod);
        Assert.True(scram.VerifyServerFinal(serverFinal!), "server signature does not verify");
        return (client, scram);
    }

    /// <summary>Full SCRAM exchange expected to fail at the proof: the CONNACK code and the server-first message.</summary>
    internal static async Task<(int Code, string ServerFirst)> ScramFailAsync(IPEndPoint endpoint, string method, string user, string password)
    {
        await using var client = await RawMqttClient.OpenAsync(endpoint, "client", Starling.Protocol.ProtocolVersion.V500);
        var scram = new ScramClient(method, user, password);
        await client.SendAsync(ConnectWithAuth("f-" + user, method, scram.ClientFirst()));
        var challenge = await client.ReceiveAsync();
        Assert.True(challenge?.Kind == Auth, $"expected AUTH, got {challenge}");
        var serverFirst = Props(challenge!.Body, 1).Data!;
        await client.SendAsync(AuthPacket(ContinueAuthentication, method, scram.ClientFinal(serverFirst)));
        var ack = await client.ReceiveAsync();
        Assert.True(ack?.Kind == PacketKind.ConnAck, $"expected CONNACK, got {ack}");
        Assert.Null(Props(ack!.Body, 2).Method); // no method on a failed CONNACK
        Assert.Null(await client.ReceiveAsync()); // closed
        return (ack.Body[1], Encoding.UTF8.GetString(serverFirst));
    }

    internal static async Task<int> FirstConnAckCodeAsync(IPEndPoint endpoint, string method, byte[] data)
    {
        await using var client = await RawMqttClient.OpenAsync(endpoint, "client", Starling.Protocol.ProtocolVersion.V500);
        await client.SendAsync(ConnectWithAuth("m", method, data));
        var ack = await client.ReceiveAsync();
        Assert.True(ack?.Kind == PacketKind.ConnAck, $"expected CONNACK, got {ack}");
        Assert.Null(await client.ReceiveAsync());
        return ack!.Body[1];
    }

    private static string Attribute(string message, char name)
        => message.Split(',').First(a => a.StartsWith(name + "=", StringComparison.Ordinal))[2..];

    private static (int SaltLength, string Iterations, int NonceLength) Shape(string serverFirst)
        => (Convert.FromBase64String(Attribute(serverFirst, 's')).Length, Attribute(serverFirst, 'i'), Attribute(serverFirst, 'r').Length);

    /// <summary>A v5 CONNECT (clean start) with Authentication Method and Data; with <paramref name="will"/>, a QoS 1 will without properties.</summary>
    internal static byte[] ConnectWithAuth(string clientId, string method, byte[] data, (string Topic, string Payload)? will = null)
    {
        var body = new ByteBuilder().Str("MQTT").U8(5).U8(will is null ? 0x02 : 0x02 | 0x04 | 0x08).U16(60).Raw(AuthProperties(method, data)).Str(clientId);
        if (will is { } w)
        {
            body.U8(0).Str(w.Topic).Str(w.Payload); // will properties (none), will topic, will payload
        }
        return ByteBuilder.Frame(0x10, body.ToArray());
    }

    internal static byte[] AuthPacket(int reason, string method, byte[] data)
        => ByteBuilder.Frame(0xF0, new ByteBuilder().U8(reason).Raw(AuthProperties(method, data)).ToArray());

    /// <summary>Authentication Method (0x15) and Authentication Data (0x16), with the property length in front.</summary>
    private static byte[] AuthProperties(string method, byte[] data)
        => new Starling.Testing.Props().Str(0x15, method).Bin(0x16, data).Encode();

    /// <summary>Authentication Method and Data from the properties starting at <paramref name="at"/> (CONNACK: 2, AUTH: 1).</summary>
    internal static (string? Method, byte[]? Data) Props(byte[] body, int at)
    {
        if (body.Length <= at)
        {
            return (null, null);
        }
        int length = 0, shift = 0, i = at;
        while (true)
        {
            var b = body[i++];
            length |= (b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                break;
            }
        }
        var end = i + length;
        string? method = null;
        byte[]? data = null;
        while (i < end)
        {
            var id = body[i++];
            int Two() => (body[i] << 8) | body[i + 1];
            switch (id)
            {
                case 0x01 or 0x17 or 0x19 or 0x24 or 0x25 or 0x28 or 0x29 or 0x2A:
                    i += 1;
                    break;
                case 0x13 or 0x21 or 0x22 or 0x23:
                    i += 2;
                    break;
                case 0x02 or 0x11 or 0x18 or 0x27:
                    i += 4;
                    break;
                case 0x15:
                    method = Encoding.UTF8.GetString(body, i + 2, Two());
                    i += 2 + Two();
                    break;
                case 0x16:
                    data = body[(i + 2)..(i + 2 + Two())];
                    i += 2 + Two();
                    break;
                case 0x26:
                    i += 2 + Two();
                    i += 2 + Two();
                    break;
                default: // strings and binary: 0x03, 0x08, 0x09, 0x12, 0x1A, 0x1C, 0x1F
                    i += 2 + Two();
                    break;
            }
        }
        return (method, data);
    }
}

/// <summary>The client side of SCRAM (RFC 5802) for the tests, without channel binding.</summary>
internal sealed class ScramClient(string method, string user, string password)
{
    private readonly string _clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
    private byte[] _expectedServerSignature = [];

    public string Method => method;

    private HashAlgorithmName Hash => method == "SCRAM-SHA-256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA512;

    private int Length => method == "SCRAM-SHA-256" ? 32 : 64;

    private string ClientFirstBare => $"n={user.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal)},r={_clientNonce}";

    public byte[] ClientFirst() => Encoding.UTF8.GetBytes("n,," + ClientFirstBare);

    public byte[] ClientFinal(byte[] serverFirstBytes)
    {
        var serverFirst = Encoding.UTF8.GetString(serverFirstBytes);
        var attributes = serverFirst.Split(',').ToDictionary(a => a[0], a => a[2..]);
        var nonce = attributes['r'];
        Assert.StartsWith(_clientNonce, nonce, StringComparison.Ordinal);
        Assert.True(nonce.Length - _clientNonce.Length >= 24, "server nonce shorter than 18 bytes");
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(attributes['s']),
            int.Parse(attributes['i'], System.Globalization.CultureInfo.InvariantCulture), Hash, Length);
        var clientKey = Hmac(salted, "Client Key"u8.ToArray());
        var storedKey = Hash == HashAlgorithmName.SHA256 ? SHA256.HashData(clientKey) : SHA512.HashData(clientKey);
        var withoutProof = "c=biws,r=" + nonce;
        var authMessage = Encoding.UTF8.GetBytes(ClientFirstBare + "," + serverFirst + "," + withoutProof);
        var signature = Hmac(storedKey, authMessage);
        var proof = clientKey.Select((b, i) => (byte)(b ^ signature[i])).ToArray();
        _expectedServerSignature = Hmac(Hmac(salted, "Server Key"u8.ToArray()), authMessage);
        return Encoding.UTF8.GetBytes(withoutProof + ",p=" + Convert.ToBase64String(proof));
    }

    public bool VerifyServerFinal(byte[] serverFinal)
        => Encoding.UTF8.GetString(serverFinal) == "v=" + Convert.ToBase64String(_expectedServerSignature);

    private byte[] Hmac(byte[] key, byte[] data) => Hash == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(key, data) : HMACSHA512.HashData(key, data);
}
