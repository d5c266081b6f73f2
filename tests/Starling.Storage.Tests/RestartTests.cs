using Microsoft.Extensions.Time.Testing;
using Starling.Protocol;
using Starling.Storage.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Storage.Tests;

/// <summary>Graceful stop, then a new server on the same data directory: the state is back.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task Sessions_subscriptions_queued_and_retained_messages_survive_a_restart()
    {
        using var dir = new TempDirectory();
        var subscriber = "sub-" + Guid.NewGuid().ToString("N")[..8];
        var state = new ClientSessionState();
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false, state))
            {
                Assert.False(sub.SessionPresent);
                Assert.Equal([ReasonCode.GrantedQoS1, ReasonCode.GrantedQoS2], await sub.SubscribeAllAsync(("r/q1/#", QualityOfService.AtLeastOnce), ("r/q2/#", QualityOfService.ExactlyOnce)));
                await sub.DisconnectAsync();
            }
            await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pub", cleanSession: true);
            for (var i = 1; i <= 50; i++)
            {
                await pub.PublishAckedAsync("r/q1/a", $"one-{i}", QualityOfService.AtLeastOnce);
                await pub.PublishAckedAsync("r/q2/a", $"two-{i}", QualityOfService.ExactlyOnce);
            }
            await pub.PublishAckedAsync("r/ret/1", "kept-1", QualityOfService.AtLeastOnce, retain: true);
            await pub.PublishAckedAsync("r/ret/2", "old-2", QualityOfService.AtMostOnce, retain: true);
            await pub.PublishAckedAsync("r/ret/2", "kept-2", QualityOfService.ExactlyOnce, retain: true);
            await pub.PublishAckedAsync("r/ret/3", "deleted", QualityOfService.AtLeastOnce, retain: true);
            await pub.PublishAckedAsync("r/ret/3", "", QualityOfService.AtLeastOnce, retain: true);
            await pub.DisconnectAsync();
        }

        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            Assert.Contains(server.Logs.Lines, l => l.Contains("Restored from SQLite database", StringComparison.Ordinal));
            var session = server.Server.Broker.GetSession(subscriber);
            Assert.NotNull(session);
            // The subscriber's DISCONNECT may still be in progress when the first messages arrive: those were sent (inflight).
            Assert.Equal(100, session.QueuedCount + session.InflightCount);
            Assert.Equal(["r/q1/#", "r/q2/#"], server.Server.Broker.GetSubscriptions(subscriber).Select(s => s.TopicFilter).Order(StringComparer.Ordinal));

            await using var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false, state);
            Assert.True(sub.SessionPresent);
            var got = await sub.ReceiveMessagesAsync(100, TimeSpan.FromSeconds(5));
            Assert.Equal(Enumerable.Range(1, 50).Select(i => $"one-{i}"), got.Where(m => m.Topic == "r/q1/a").Select(m => m.Text));
            Assert.Equal(Enumerable.Range(1, 50).Select(i => $"two-{i}"), got.Where(m => m.Topic == "r/q2/a").Select(m => m.Text));
            Assert.All(got.Where(m => m.Topic == "r/q2/a"), m => Assert.Equal(QualityOfService.ExactlyOnce, m.QoS));

            await using var fresh = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "fresh", cleanSession: true);
            await fresh.SubscribeAllAsync(("r/ret/#", QualityOfService.AtLeastOnce));
            var retained = await fresh.ReceiveMessagesAsync(3, TimeSpan.FromSeconds(1));
            Assert.Equal(["r/ret/1=kept-1", "r/ret/2=kept-2"], retained.Select(m => $"{m.Topic}={m.Text}").Order(StringComparer.Ordinal));
            Assert.All(retained, m => Assert.True(m.Retain));
            await Eventually.TrueAsync(() => server.Server.Broker.GetSession(subscriber)!.InflightCount == 0, "the last PUBACK / PUBCOMP to be handled");
            await sub.DisconnectAsync();
        }

        // Everything was delivered and acknowledged: after a third start nothing is queued and no message is left.
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            Assert.Equal(0, server.Server.Broker.GetSession(subscriber)!.QueuedCount);
        }
        using var store = Starling.Storage.Sqlite.SqliteStore.Open(dir.Path);
        Assert.Equal(new Starling.Broker.Storage.StoreStatistics(1, 2, 2, 0, 0, 2), store.GetStatistics()); // the two retained messages
    }

    [Fact]
    public async Task Thousands_of_queued_messages_are_paged_in_order_after_a_restart()
    {
        using var dir = new TempDirectory();
        var limits = new Dictionary<string, string?> { ["Limits:MaxQueuedMessages"] = "100000" };
        const int Count = 5000;
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path, limits))
        {
            await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pager", cleanSession: false))
            {
                await sub.SubscribeAllAsync(("p/#", QualityOfService.AtLeastOnce));
                await sub.DisconnectAsync();
            }
            await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pub", cleanSession: true);
            var sends = new List<Task<ReasonCode>>();
            for (var i = 1; i <= Count; i++)
            {
                sends.Add(pub.PublishAckedAsync("p/x", System.Text.Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), QualityOfService.AtLeastOnce));
                if (sends.Count == 100)
                {
                    await Task.WhenAll(sends);
                    sends.Clear();
                }
            }
            await Task.WhenAll(sends);
            Assert.Equal(Count, server.Server.Broker.GetSession("pager")!.QueuedCount);
        }
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path, limits))
        {
            Assert.Equal(Count, server.Server.Broker.GetSession("pager")!.QueuedCount);
            await using var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pager", cleanSession: false);
            var got = await sub.ReceiveMessagesAsync(Count, TimeSpan.FromSeconds(5));
            Assert.Equal(Enumerable.Range(1, Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), got.Select(m => m.Text));
            await sub.DisconnectAsync();
        }
    }

    [Fact]
    public async Task An_expired_session_is_gone_after_a_restart_and_an_unexpired_one_is_kept()
    {
        using var dir = new TempDirectory();
        // Both runs share a fake clock: the store keeps when each session went offline in the broker's time, and the
        // second start compares with it.
        var clock = new FakeTimeProvider();
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path, time: clock))
        {
            foreach (var (id, expiry) in new[] { ("short", 1u), ("long", 3600u) })
            {
                await using var c = await RawMqttClient.ConnectSessionAsync(server.Endpoint, id, cleanSession: false, version: ProtocolVersion.V500, sessionExpiry: expiry);
                await c.SubscribeAllAsync(("e/#", QualityOfService.AtLeastOnce));
                await c.DisconnectAsync();
            }
            await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the broker to see both clients go");
        }
        clock.Advance(TimeSpan.FromSeconds(1.5));
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path, time: clock))
        {
            Assert.Null(server.Server.Broker.GetSession("short"));
            Assert.NotNull(server.Server.Broker.GetSession("long"));
            await using var c = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "long", cleanSession: false, version: ProtocolVersion.V500, sessionExpiry: 3600);
            Assert.True(c.SessionPresent);
        }
    }

    /// <summary>
    /// Issue 16, finding 18: only the broker's own tree, <c>$SYS</c> and <c>$SYS/...</c>, is left out of the store; other
    /// topics that merely start with the same letters are ordinary client topics. Before the fix the store skipped every
    /// topic starting with "$SYS": they were acknowledged (after no commit) and gone after the restart.
    /// </summary>
    [Fact]
    public async Task Retained_messages_on_topics_that_only_start_like_SYS_survive_a_restart()
    {
        using var dir = new TempDirectory();
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pub", cleanSession: true);
            Assert.Equal(ReasonCode.Success, await pub.PublishAckedAsync("$SYSTEM/x", "system-x", QualityOfService.AtLeastOnce, retain: true));
            Assert.Equal(ReasonCode.Success, await pub.PublishAckedAsync("$SYSfoo", "sys-foo", QualityOfService.AtLeastOnce, retain: true));
            await pub.DisconnectAsync();
        }
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            await using var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "sub", cleanSession: true);
            await sub.SubscribeAllAsync(("$SYSTEM/#", QualityOfService.AtLeastOnce), ("$SYSfoo", QualityOfService.AtLeastOnce));
            var retained = await sub.ReceiveMessagesAsync(2, TimeSpan.FromSeconds(5));
            Assert.Equal(["$SYSTEM/x=system-x", "$SYSfoo=sys-foo"], retained.Select(m => $"{m.Topic}={m.Text}").Order(StringComparer.Ordinal));
            await sub.DisconnectAsync();
        }
    }

    [Fact]
    public async Task Memory_mode_keeps_nothing()
    {
        await using (var server = await TestServer.StartWithStoreAsync(null))
        {
            await using var c = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "m", cleanSession: false);
            await c.SubscribeAllAsync(("m/#", QualityOfService.AtLeastOnce));
            await c.DisconnectAsync();
            Assert.Contains(server.Logs.Lines, l => l.Contains("Storage: memory only", StringComparison.Ordinal));
        }
        await using (var server = await TestServer.StartWithStoreAsync(null))
        {
            Assert.Null(server.Server.Broker.GetSession("m"));
        }
    }
}
