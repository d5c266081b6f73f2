using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Issue 16, findings 2, 5, 6, 7 and 14: a session belongs to the identity that created it, every delivery path checks
/// the receiver's current read access, wills obey the PUBLISH rules, and credentials that expire or are revoked end
/// the connection. Real server, real sockets, password and ACL files.
/// </summary>
public sealed class SessionIdentityTests
{
    private const string Password = "pw";

    private const string Acl = """
        user alice
        topic readwrite victim/#

        user mallory
        topic readwrite mallory/#
        topic write victim/#

        user reader
        topic read jobs/#
        topic read data/public/#
        topic readwrite reader/#

        user outsider
        topic read other/#

        user pub
        topic write #
        topic read other/#
        """;

    private static readonly byte[] s_password = Encoding.UTF8.GetBytes(Password);

    private static Dictionary<string, string?> Config(TempDir dir, string acl = Acl)
    {
        var users = string.Concat(new[] { "alice", "mallory", "reader", "outsider", "pub" }.Select(u => $"{u}:{PasswordHash.Create(Password)}\n"));
        File.WriteAllText(dir.File("pw"), users);
        File.WriteAllText(dir.File("acl"), acl);
        return new Dictionary<string, string?> { ["Auth:PasswordFile"] = dir.File("pw"), ["Auth:AclFile"] = dir.File("acl") };
    }

    private static ConnectSpec As(string user, string clientId, bool clean = true, WillSpec? will = null)
        => new() { ClientId = clientId, CleanSession = clean, UserName = user, Password = s_password, Will = will };

    [Fact]
    public async Task Another_identity_with_the_same_client_id_is_refused_and_gets_nothing_of_the_session_MQTT_3_1_4_2()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir));
        var id = Names.ClientId("victim");
        var topic = "victim/" + Guid.NewGuid().ToString("N");
        var willTopic = topic + "/will";
        await using var watcher = await server.ConnectAsync(As("alice", Names.ClientId("watch")));
        await watcher.SubscribeGrantedAsync((willTopic, 1));
        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));

        var victim = await server.ConnectAsync(As("alice", id, clean: false, will: new WillSpec(willTopic, "victim-gone", 1)));
        await victim.SubscribeGrantedAsync((topic, 1));
        await publisher.PublishAsync(topic, "in-flight", 1);
        Assert.Equal("in-flight", (await victim.ExpectPublishAsync()).Text); // not acknowledged: stays in flight

        // Another user with the victim's client id, resuming (3.1.1) or starting clean (v5): refused, nothing changes.
        var (attacker, attackAck) = await server.ConnectRawAsync(As("mallory", id, clean: false));
        await using (attacker)
        {
            Assert.Equal(5, attackAck.ReturnCode);
            await attacker.ExpectClosedAsync(allowed: f => f.Kind != PacketKind.Publish);
        }
        var (attacker5, attackAck5) = await server.ConnectRaw5Async(new Connect5 { ClientId = id, CleanStart = true, UserName = "mallory", Password = s_password });
        await using (attacker5)
        {
            Assert.Equal(0x87, attackAck5.ReasonCode);
        }

        // The victim was not kicked: it still receives.
        await publisher.PublishAsync(topic, "after", 1);
        Assert.Equal("after", (await victim.ExpectPublishAsync()).Text);
        await victim.SendAsync(RawPackets.Disconnect());
        await victim.ExpectClosedAsync();
        await victim.DisposeAsync();

        // Offline: a queued message, and another attempt.
        await publisher.PublishAsync(topic, "queued", 1);
        var (again, againAck) = await server.ConnectRawAsync(As("mallory", id, clean: false));
        await using (again)
        {
            Assert.Equal(5, againAck.ReturnCode);
            await again.ExpectClosedAsync(allowed: f => f.Kind != PacketKind.Publish);
        }

        // The owner resumes its whole session: both in-flight messages re-sent with DUP, then the queued one.
        var (back, backAck) = await server.ConnectRawAsync(As("alice", id, clean: false));
        await using (back)
        {
            Assert.Equal(0, backAck.ReturnCode);
            Assert.True(backAck.SessionPresent);
            var first = await back.ExpectPublishAsync();
            Assert.Equal(("in-flight", true), (first.Text, first.Dup));
            Assert.Equal("after", (await back.ExpectPublishAsync()).Text);
            Assert.Equal("queued", (await back.ExpectPublishAsync()).Text);
        }

        // No will was published: the watcher's first message is the marker.
        await publisher.PublishAsync(willTopic, "marker", 1);
        Assert.Equal("marker", (await watcher.ExpectPublishAsync()).Text);
        Assert.Equal(3, server.Server.Broker.SecurityCounters.SessionOwnerMismatch);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "SessionOwnerMismatch", "Auth:SessionOwnership"));
    }

    [Fact]
    public async Task With_SessionOwnership_replace_another_identity_gets_a_fresh_session_without_the_messages()
    {
        using var dir = new TempDir();
        var config = Config(dir);
        config["Auth:SessionOwnership"] = "replace";
        await using var server = await TestServer.StartAsync(config);
        var id = Names.ClientId("victim");
        var topic = "victim/" + Guid.NewGuid().ToString("N");
        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));
        await using (var victim = await server.ConnectAsync(As("alice", id, clean: false)))
        {
            await victim.SubscribeGrantedAsync((topic, 1));
            await publisher.PublishAsync(topic, "in-flight", 1);
            Assert.Equal("in-flight", (await victim.ExpectPublishAsync()).Text);
            await victim.SendAsync(RawPackets.Disconnect());
            await victim.ExpectClosedAsync();
        }
        await publisher.PublishAsync(topic, "queued", 1);

        var (attacker, ack) = await server.ConnectRawAsync(As("mallory", id, clean: false));
        await using (attacker)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
            var own = "mallory/" + Guid.NewGuid().ToString("N");
            await attacker.SubscribeGrantedAsync((own, 1));
            await attacker.SendAsync(RawPackets.Publish(own, "marker", qos: 0));
            Assert.Equal("marker", (await attacker.ExpectPublishAsync()).Text);
        }
    }

    [Fact]
    public async Task Repeated_takeovers_of_one_client_id_are_refused_with_0x9F_for_a_minute()
    {
        using var dir = new TempDir();
        var config = Config(dir);
        config["Limits:MaxTakeoversPerMinute"] = "2";
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions { Config = config, Time = clock });
        var id = Names.ClientId("flap");
        var connect = new Connect5 { ClientId = id, UserName = "alice", Password = s_password };
        await using var first = await server.Connect5Async(connect);
        await using var second = await server.Connect5Async(connect); // takeover 1
        await first.ExpectDisconnect5Async(0x8E);
        await using var third = await server.Connect5Async(connect); // takeover 2
        await second.ExpectDisconnect5Async(0x8E);

        var (fourth, ack) = await server.ConnectRaw5Async(connect);
        await using (fourth)
        {
            Assert.Equal(0x9F, ack.ReasonCode);
        }
        await third.PingAsync(); // the holder was not kicked
        Assert.Equal(1, server.Server.Broker.SecurityCounters.TakeoverRateExceeded);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "TakeoverRate", "Limits:MaxTakeoversPerMinute"));

        clock.Advance(TimeSpan.FromSeconds(61));
        await using var fifth = await server.Connect5Async(connect);
        await third.ExpectDisconnect5Async(0x8E);
    }

    [Fact]
    public async Task A_session_created_anonymously_does_not_keep_an_authenticated_user_out_of_its_client_id()
    {
        using var dir = new TempDir();
        var config = Config(dir);
        config["Auth:AllowAnonymous"] = "true";
        await using var server = await TestServer.StartAsync(config);
        var id = Names.ClientId("alice-phone");

        // An anonymous client squats on the id with a persistent session, then leaves.
        var (squatter, squatAck) = await server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (squatter)
        {
            Assert.Equal(0, squatAck.ReturnCode);
        }

        // The user connects with its credentials: admitted with a fresh session (nothing of the squatter's resumed).
        var (alice, ack) = await server.ConnectRawAsync(As("alice", id, clean: false));
        await using (alice)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.False(ack.SessionPresent);
        }

        // The other way round stays refused: an anonymous client cannot take the user's session.
        var (again, againAck) = await server.ConnectRawAsync(new ConnectSpec { ClientId = id, CleanSession = false });
        await using (again)
        {
            Assert.Equal(5, againAck.ReturnCode);
        }
    }

    [Fact]
    public async Task A_shared_subscription_member_without_read_access_takes_no_share()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir));
        var group = "$share/g" + Guid.NewGuid().ToString("N")[..8] + "/jobs/#";
        await using var reader = await server.ConnectAsync(As("reader", Names.ClientId("reader")));
        await using var outsider = await server.ConnectAsync(As("outsider", Names.ClientId("outsider")));
        await reader.SubscribeGrantedAsync((group, 1));
        await outsider.SubscribeGrantedAsync((group, 1)); // granted, as Mosquitto does: read access is per message
        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));
        for (var i = 0; i < 6; i++)
        {
            await publisher.PublishAsync("jobs/" + i, "job-" + i, 1);
        }

        for (var i = 0; i < 6; i++)
        {
            var publish = await reader.ExpectPublishAsync();
            Assert.Equal("job-" + i, publish.Text);
            await reader.AcknowledgeAsync(publish);
        }
        // The outsider got none of them: its first message is a marker on a topic it may read.
        await outsider.SubscribeGrantedAsync(("other/x", 0));
        await publisher.PublishAsync("other/x", "marker", 0);
        Assert.Equal("marker", (await outsider.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task A_restored_sessions_offline_QoS_0_queue_is_checked_against_the_receivers_read_access()
    {
        using var dir = new TempDir();
        var data = Directory.CreateDirectory(Path.Combine(dir.Path, "data")).FullName;
        var config = Config(dir);
        config["QueueQoS0Messages"] = "true";
        var id = Names.ClientId("restored");
        await using (var server = await TestServer.StartWithStoreAsync(data, config))
        {
            await using var reader = await server.ConnectAsync(As("reader", id, clean: false));
            await reader.SubscribeGrantedAsync(("data/#", 0));
            await reader.SendAsync(RawPackets.Disconnect());
            await reader.ExpectClosedAsync();
        }

        await using (var server = await TestServer.StartWithStoreAsync(data, config))
        {
            await using (var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub"))))
            {
                await publisher.PublishAsync("data/secret/1", "secret", 0);
                await publisher.PublishAsync("data/public/2", "public", 0);
                await publisher.PingAsync();
            }
            var (reader, ack) = await server.ConnectRawAsync(As("reader", id, clean: false));
            await using (reader)
            {
                Assert.True(ack.SessionPresent);
                var first = await reader.ExpectPublishAsync();
                Assert.Equal(("data/public/2", "public"), (first.Topic, first.Text));
            }
        }
    }

    [Fact]
    public async Task Resent_in_flight_messages_are_checked_against_the_current_read_access_after_an_ACL_reload()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir));
        var id = Names.ClientId("resend");
        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));
        await using (var reader = await server.ConnectAsync(As("reader", id, clean: false)))
        {
            await reader.SubscribeGrantedAsync(("data/#", 1));
            await publisher.PublishAsync("data/public/a", "readable-then", 1);
            Assert.Equal("readable-then", (await reader.ExpectPublishAsync()).Text); // not acknowledged
            reader.CloseAbruptly();
        }

        // The ACL no longer lets reader read data/public: the re-send would be a delivery it may not get.
        await File.WriteAllTextAsync(dir.File("acl"), Acl.Replace("topic read data/public/#", "topic read data/other/#", StringComparison.Ordinal));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "Reloaded the ACL file"));
        var (back, ack) = await server.ConnectRawAsync(As("reader", id, clean: false));
        await using (back)
        {
            Assert.True(ack.SessionPresent);
            await publisher.PublishAsync("data/other/b", "marker", 1);
            var first = await back.ExpectPublishAsync();
            Assert.Equal("marker", first.Text);
            Assert.False(first.Dup);
        }
    }

    [Fact]
    public async Task A_will_to_SYS_is_refused_at_CONNECT_with_0x87()
    {
        await using var server = await TestServer.StartAsync();
        var (client, ack) = await server.ConnectRaw5Async(new Connect5
        {
            ClientId = Names.ClientId("spoof"),
            Will = new WillSpec5("$SYS/broker/version", "spoofed", retain: true),
        });
        await using (client)
        {
            Assert.Equal(0x87, ack.ReasonCode);
        }
        var (client311, ack311) = await server.ConnectRawAsync(new ConnectSpec { ClientId = Names.ClientId("spoof"), Will = new WillSpec("$SYS", "spoofed", retain: true) });
        await using (client311)
        {
            Assert.Equal(5, ack311.ReturnCode);
        }
        // $SYSTEM is not the broker's tree: allowed.
        await using var other = await server.ConnectAsync(new ConnectSpec { ClientId = Names.ClientId("ok"), Will = new WillSpec("$SYSTEM/x", "fine") });
        Assert.Equal(2, server.Server.Broker.SecurityCounters.WillNotAuthorized);
    }

    [Fact]
    public async Task A_will_is_checked_against_the_ACL_in_force_when_it_is_published()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir));
        var topic = "victim/" + Guid.NewGuid().ToString("N");
        await using var watcher = await server.ConnectAsync(As("alice", Names.ClientId("watch")));
        await watcher.SubscribeGrantedAsync((topic, 1));
        var client = await server.ConnectAsync(As("mallory", Names.ClientId("m"), will: new WillSpec(topic, "will-after-revocation", 1)));

        await File.WriteAllTextAsync(dir.File("acl"), Acl.Replace("topic write victim/#", "", StringComparison.Ordinal));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "Reloaded the ACL file"));
        client.CloseAbruptly();
        await client.DisposeAsync();
        await Eventually.TrueAsync(() => server.Server.Broker.SecurityCounters.WillNotAuthorized == 1, "the will refused at publication");

        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));
        await publisher.PublishAsync(topic, "marker", 1);
        Assert.Equal("marker", (await watcher.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task A_user_removed_from_the_password_file_is_disconnected_with_0x87_and_without_its_will()
    {
        using var dir = new TempDir();
        await using var server = await TestServer.StartAsync(Config(dir));
        var topic = "victim/" + Guid.NewGuid().ToString("N");
        await using var watcher = await server.ConnectAsync(As("alice", Names.ClientId("watch")));
        await watcher.SubscribeGrantedAsync((topic, 1));
        await using var removed = await server.Connect5Async(new Connect5
        {
            ClientId = Names.ClientId("m"),
            UserName = "mallory",
            Password = s_password,
            Will = new WillSpec5(topic, "revoked-will", 1),
        });

        var users = await File.ReadAllLinesAsync(dir.File("pw"));
        await File.WriteAllLinesAsync(dir.File("pw"), users.Where(l => !l.StartsWith("mallory:", StringComparison.Ordinal)));
        await removed.ExpectDisconnect5Async(0x87, TimeSpan.FromSeconds(10));
        Assert.Equal(1, server.Server.Broker.SecurityCounters.CredentialsExpired);

        await using var publisher = await server.ConnectAsync(As("pub", Names.ClientId("pub")));
        await publisher.PublishAsync(topic, "marker", 1);
        Assert.Equal("marker", (await watcher.ExpectPublishAsync()).Text);
    }

    [Fact]
    public async Task A_connection_ends_with_0xA0_when_its_JWT_expires_on_the_brokers_clock()
    {
        var secret = "a-test-secret-that-is-long-enough-for-hs256";
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions
        {
            Time = clock,
            Config = new Dictionary<string, string?> { ["Auth:Jwt:Algorithm"] = "HS256", ["Auth:Jwt:Secret"] = secret, ["Auth:Jwt:ClockSkewSeconds"] = "0" },
        });
        var exp = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 600;
        var token = JwtAuthenticator.CreateHs256($$"""{"sub":"dev1","exp":{{exp}}}""", Encoding.UTF8.GetBytes(secret));
        await using var client = await server.Connect5Async(new Connect5 { ClientId = Names.ClientId("jwt"), UserName = "dev1", Password = Encoding.UTF8.GetBytes(token), KeepAlive = 0 });
        clock.Advance(TimeSpan.FromSeconds(590));
        await client.PingAsync(); // still valid
        clock.Advance(TimeSpan.FromSeconds(11));
        await client.ExpectDisconnect5Async(0xA0);
        Assert.Equal(1, server.Server.Broker.SecurityCounters.CredentialsExpired);
    }
}
