using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Broker-state limits against a real in-process server (issue 16, finding 3; queue-full policy of finding 20): each
/// bound on what one client can make the broker keep, its reason code, counter and rate-limited log line.
/// </summary>
public sealed class StateLimitsTests
{
    private static Task<TestServer> StartAsync(params (string Key, string Value)[] settings)
        => TestServer.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value));

    [Fact]
    public async Task Retained_topic_past_MaxRetainedMessages_is_routed_not_stored_and_v5_gets_0x97_quota_exceeded_section_3_4_2_1()
    {
        await using var server = await StartAsync(("Limits:MaxRetainedMessages", "2"));
        var prefix = Names.Topic("retained");
        await using var watcher = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("w"), version: 5);
        Assert.Equal(1, await watcher.SubscribeForCodeAsync(prefix + "/#", 1));
        await using var publisher = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("p"), version: 5);

        Assert.Equal(0x00, await publisher.PublishForCodeAsync(prefix + "/1", "one", qos: 1, retain: true));
        Assert.Equal(0x00, await publisher.PublishForCodeAsync(prefix + "/2", "two", qos: 1, retain: true));
        // A third topic: not stored; PUBACK 0x97 Quota exceeded (a failure code, 3.4.2.1), still delivered live.
        Assert.Equal(0x97, await publisher.PublishForCodeAsync(prefix + "/3", "three", qos: 1, retain: true));
        // Updating and deleting stored topics still works.
        Assert.Equal(0x00, await publisher.PublishForCodeAsync(prefix + "/1", "one again", qos: 1, retain: true));
        Assert.Equal(0x00, await publisher.PublishForCodeAsync(prefix + "/2", "", qos: 1, retain: true));
        Assert.Equal(0x00, await publisher.PublishForCodeAsync(prefix + "/3", "three now fits", qos: 1, retain: true));

        var live = await watcher.DrainPublishesAsync(RawMqttClient.QuietPeriod);
        Assert.Contains(prefix + "/3", live);
        Assert.Equal([prefix + "/1", prefix + "/3"], await StoredAsync(server, prefix));
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.RetainedRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "RetainedMessages", "Limits:MaxRetainedMessages"));

        // 3.1.1 has no failure code in PUBACK: a normal acknowledgement, the topic is not stored.
        await using var old = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("o"));
        Assert.Equal(0, await old.PublishForCodeAsync(prefix + "/4", "four", qos: 1, retain: true));
        Assert.Equal([prefix + "/1", prefix + "/3"], await StoredAsync(server, prefix));
    }

    // The retained topics under prefix, as a new subscriber receives them.
    private static async Task<string[]> StoredAsync(TestServer server, string prefix)
    {
        await using var reader = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("r"));
        Assert.Equal(0, await reader.SubscribeForCodeAsync(prefix + "/#", 0));
        return [.. (await reader.DrainPublishesAsync(RawMqttClient.QuietPeriod)).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Retained_bytes_past_MaxRetainedBytes_are_refused_and_an_update_that_fits_is_kept()
    {
        await using var server = await StartAsync(("Limits:MaxRetainedBytes", "3000"));
        var prefix = Names.Topic("bytes");
        await using var publisher = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("p"), version: 5);
        Assert.Equal(0x10, await publisher.PublishForCodeAsync(prefix + "/a", new string('a', 2000), qos: 1, retain: true));
        Assert.Equal(0x97, await publisher.PublishForCodeAsync(prefix + "/b", new string('b', 2000), qos: 1, retain: true));
        // Growing the existing topic past the total is refused too; shrinking it is fine.
        Assert.Equal(0x97, await publisher.PublishForCodeAsync(prefix + "/a", new string('a', 3100), qos: 1, retain: true));
        Assert.Equal(0x10, await publisher.PublishForCodeAsync(prefix + "/a", "small", qos: 1, retain: true));
        Assert.Equal(0x10, await publisher.PublishForCodeAsync(prefix + "/b", new string('b', 2000), qos: 1, retain: true));
        Assert.Equal([prefix + "/a", prefix + "/b"], await StoredAsync(server, prefix));
        Assert.True(server.Server.Broker.RetainedBytes <= 3000);
        Assert.Equal(2, Interlocked.Read(ref server.Server.Broker.Counters.RetainedRefused));
    }

    [Fact]
    public async Task New_client_id_past_MaxSessions_gets_CONNACK_0x97_in_v5_and_3_in_3_1_1_while_known_ids_still_connect()
    {
        await using var server = await StartAsync(("Limits:MaxSessions", "2"));
        var persistent = Names.ClientId("kept");
        await (await server.ConnectAsync(persistent, cleanSession: false)).DisposeAsync();
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the persistent client is gone");
        await using var second = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("second"), version: 5);

        var (v5, v5Code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, Names.ClientId("third"), version: 5);
        await v5.DisposeAsync();
        Assert.Equal(0x97, v5Code);
        var (v311, v311Code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, Names.ClientId("fourth"));
        await v311.DisposeAsync();
        Assert.Equal(3, v311Code);

        // The offline session's own client id still gets in (it adds no session).
        var (back, ack) = await server.ConnectRawAsync(new ConnectSpec { ClientId = persistent, CleanSession = false });
        await using (back)
        {
            Assert.Equal(0, ack.ReturnCode);
            Assert.True(ack.SessionPresent);
        }
        Assert.Equal(2, server.Server.Broker.SessionCount);
        Assert.Equal(2, Interlocked.Read(ref server.Server.Broker.Counters.SessionsRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "Sessions", "Limits:MaxSessions"));
    }

    [Fact]
    public async Task Persistent_sessions_expire_after_the_default_7_days_and_v5_is_told_the_cap_in_CONNACK_section_3_2_2_3_2()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = time });
        var id311 = Names.ClientId("old");
        await (await server.ConnectAsync(id311, cleanSession: false)).DisposeAsync();

        // A v5 client asking for "never" (0xFFFFFFFF) is told the server's value [3.2.2.3.2].
        await using (var v5 = await RawMqttClient.OpenAsync(server.Endpoint, "v5", ProtocolVersion.V500))
        {
            var ack = await v5.ConnectAsync(Names.ClientId("new"), clean: true, properties: new MqttProperties { SessionExpiryInterval = uint.MaxValue });
            Assert.Equal(ReasonCode.Success, ack.ReasonCode);
            Assert.Equal((uint?)(7 * 24 * 3600), ack.Properties?.SessionExpiryInterval);
        }
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "both clients are gone");
        Assert.Equal(2, server.Server.Broker.SessionCount);

        time.Advance(TimeSpan.FromDays(7) - TimeSpan.FromSeconds(5));
        server.Server.Broker.Tick();
        Assert.Equal(2, server.Server.Broker.SessionCount);
        time.Advance(TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(() => { server.Server.Broker.Tick(); return server.Server.Broker.SessionCount == 0; },
            "the 3.1.1 persistent session and the capped v5 one expire after 7 days");
    }

    [Fact]
    public async Task Long_filters_past_MaxSubscriptionBytesPerClient_get_SUBACK_0x97_in_v5_and_0x80_in_3_1_1_by_default()
    {
        await using var server = await TestServer.StartAsync();
        // The review's repro: filters of ~64 KB each. The default budget (1 MiB per session) takes 16 of them.
        var filter = new string('f', 60_000);
        foreach (var version in new[] { 5, 4 })
        {
            await using var client = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("subs"), version: version);
            var codes = new List<int>();
            for (var i = 0; i < 20; i++)
            {
                codes.Add(await client.SubscribeForCodeAsync($"{i:D2}/{filter}", 0));
            }
            Assert.Equal(Enumerable.Repeat(0, 17), codes.Take(17));
            Assert.Equal(Enumerable.Repeat(version == 5 ? 0x97 : 0x80, 3), codes.Skip(17));
            // Re-subscribing a held filter adds nothing and is granted.
            Assert.Equal(0, await client.SubscribeForCodeAsync($"00/{filter}", 0));
        }
        Assert.Equal(6, Interlocked.Read(ref server.Server.Broker.Counters.SubscriptionBytesRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "SubscriptionBytes", "Limits:MaxSubscriptionBytesPerClient"));
    }

    [Fact]
    public async Task Queued_bytes_of_an_offline_session_are_bounded_by_default_at_32_MiB()
    {
        await using var server = await TestServer.StartAsync();
        var topic = Names.Topic("queued");
        var subscriber = Names.ClientId("slow");
        await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false))
        {
            Assert.Equal([ReasonCode.GrantedQoS1], await sub.SubscribeAllAsync((topic, QualityOfService.AtLeastOnce)));
            await sub.DisconnectAsync();
        }
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the subscriber is offline");
        await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, Names.ClientId("pub"), cleanSession: true);
        var payload = new byte[1024 * 1024];
        for (var i = 0; i < 40; i++)
        {
            await pub.PublishAckedAsync(topic, payload, QualityOfService.AtLeastOnce);
        }
        // Each message counts its topic too (Message.AccountedSize), so 31 of 1 MiB + topic fit in 32 MiB, not 32.
        var session = server.Server.Broker.GetSessions().Single(s => s.ClientId == subscriber);
        Assert.Equal(31, session.QueuedCount);
        Assert.Equal(9, Interlocked.Read(ref server.Server.Broker.Counters.MessagesDroppedQueueFull));
        Assert.Equal(9, session.Dropped!["queue_full"]);
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "QueueFull", "Limits:MaxQueuedBytes"));
    }

    [Fact]
    public async Task QueueFullPolicy_RejectPublish_answers_a_v5_publisher_0x97_only_when_every_matching_queue_is_full()
    {
        await using var server = await StartAsync(("Limits:QueueFullPolicy", "RejectPublish"), ("Limits:MaxQueuedMessages", "1"));
        var topic = Names.Topic("full");
        var subscriber = Names.ClientId("offline");
        await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false))
        {
            await sub.SubscribeAllAsync((topic, QualityOfService.AtLeastOnce));
            await sub.DisconnectAsync();
        }
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the subscriber is offline");
        await using var v5 = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("p5"), version: 5);
        Assert.Equal(0x00, await v5.PublishForCodeAsync(topic, "queued", qos: 1));
        Assert.Equal(0x97, await v5.PublishForCodeAsync(topic, "nowhere to go", qos: 1));
        Assert.Equal(0x97, await v5.PublishForCodeAsync(topic, "nowhere to go", qos: 2));
        // 3.1.1 has no failure code in PUBACK: acknowledged as usual, and counted as a queue-full drop.
        await using var v311 = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("p4"));
        Assert.Equal(0, await v311.PublishForCodeAsync(topic, "dropped", qos: 1));
        // With one subscriber that still has room, the publish succeeds (the full one's copy is dropped and counted).
        await using var online = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("on"), version: 5);
        Assert.Equal(1, await online.SubscribeForCodeAsync(topic, 1));
        Assert.Equal(0x00, await v5.PublishForCodeAsync(topic, "half", qos: 1));
        Assert.Equal(2, Interlocked.Read(ref server.Server.Broker.Counters.PublishesRefusedQueueFull));
        Assert.Equal(4, Interlocked.Read(ref server.Server.Broker.Counters.MessagesDroppedQueueFull));
    }

    [Fact]
    public async Task QueueFullPolicy_DropOldest_keeps_the_newest_messages_for_an_offline_session()
    {
        foreach (var (policy, expected) in new[] { ("DropNewest", new[] { "m0", "m1" }), ("DropOldest", new[] { "m3", "m4" }) })
        {
            await using var server = await StartAsync(("Limits:QueueFullPolicy", policy), ("Limits:MaxQueuedMessages", "2"));
            var topic = Names.Topic("order");
            var subscriber = Names.ClientId("offline");
            await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false))
            {
                await sub.SubscribeAllAsync((topic, QualityOfService.AtLeastOnce));
                await sub.DisconnectAsync();
            }
            await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the subscriber is offline");
            await using (var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, Names.ClientId("pub"), cleanSession: true))
            {
                for (var i = 0; i < 5; i++)
                {
                    await pub.PublishAckedAsync(topic, "m" + i, QualityOfService.AtLeastOnce);
                }
            }
            Assert.Equal(3, Interlocked.Read(ref server.Server.Broker.Counters.MessagesDroppedQueueFull));
            await using var back = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false);
            var received = await back.ReceiveMessagesAsync(2, TimeSpan.FromSeconds(5));
            Assert.Equal(expected, received.Select(r => r.Text));
        }
    }

    [Fact]
    public async Task Bad_state_limit_settings_stop_start_up_naming_the_setting()
    {
        foreach (var (key, value) in new[]
        {
            ("Limits:MaxRetainedMessages", "-1"), ("Limits:MaxRetainedBytes", "lots"), ("Limits:MaxSessions", "-5"),
            ("Limits:MaxSubscriptionBytesPerClient", "-1"), ("Limits:QueueFullPolicy", "DropRandom"), ("Limits:LimitLogIntervalSeconds", "-1"),
        })
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync((key, value)));
            Assert.Contains(key, ex.Message, StringComparison.Ordinal);
        }
    }
}
