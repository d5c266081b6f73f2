using Starling.Protocol;
using Starling.Storage.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Storage.Tests;

/// <summary>
/// Storage:MaxDatabaseSize reached by state other than messages (issue 16 review): an anonymous client flooding
/// durable subscriptions filled the SQLite file, the writer then retried the batch that did not fit for ever, and every
/// later acknowledgement that waited for a commit hung until a restart. Real server, real SQLite store, over sockets.
/// </summary>
public sealed class StoreFullTests
{
    private static readonly Dictionary<string, string?> OneMiB = new() { ["Storage:MaxDatabaseSize"] = "1048576" };

    /// <summary>
    /// One SUBSCRIBE of 34 filters of 30 000 bytes: about 1 MB of filter text (below Limits:MaxSubscriptionBytesPerClient),
    /// twice that in the file (row and primary-key index): more than a 1 MiB store holds, in one batch.
    /// </summary>
    private static (string, QualityOfService)[] HugeFilters(string prefix)
        => [.. Enumerable.Range(0, 34).Select(i => ($"{prefix}/{i}/" + new string('x', 30_000), QualityOfService.AtMostOnce))];

    /// <summary>
    /// Floods durable subscriptions (a new set of huge filters each round) until a whole SUBSCRIBE is refused with 0x97:
    /// the store is then full (each round the broker grants what its estimate says still fits).
    /// </summary>
    private static async Task FloodUntilRefusedAsync(RawMqttClient flood)
    {
        var round = 0;
        await Eventually.GetAsync(() => flood.SubscribeAllAsync(HugeFilters($"f{round++}")), c => c.All(r => r == ReasonCode.QuotaExceeded),
            "a durable SUBSCRIBE refused with 0x97 Quota exceeded for every filter");
    }

    private static async Task<RawMqttClient> FillAsync(TestServer server)
    {
        var flood = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "flood", cleanSession: true, version: ProtocolVersion.V500, sessionExpiry: 3600);
        await FloodUntilRefusedAsync(flood);
        return flood;
    }

    [Fact]
    public async Task MQTT_3_9_3_A_durable_subscription_flood_that_fills_the_store_never_freezes_a_QoS_1_acknowledgement()
    {
        using var dir = new TempDirectory();
        await using var server = await TestServer.StartWithStoreAsync(dir.Path, OneMiB);
        // A durable subscriber: the publish below is a store write its PUBACK waits for.
        await using var durable = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "durable", cleanSession: false);
        await durable.SubscribeAllAsync(("t/1", QualityOfService.AtLeastOnce));
        await using var flood = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "flood", cleanSession: true, version: ProtocolVersion.V500, sessionExpiry: 3600);
        await flood.SubscribeAllAsync(HugeFilters("f"));

        await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pub", cleanSession: true, version: ProtocolVersion.V500);
        // Before: the writer retried the subscriptions' batch for ever, and this PUBACK never came.
        var ack = await pub.PublishAckedAsync("t/1", "hello", QualityOfService.AtLeastOnce).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(ack is ReasonCode.Success or ReasonCode.QuotaExceeded, $"PUBACK {ack}");

        // Flooding on fills the store: durable SUBSCRIBEs are refused per filter (0x97, a SUBACK reason code [MQTT-3.9.3-2]).
        await FloodUntilRefusedAsync(flood);
        Assert.Equal([ReasonCode.QuotaExceeded, ReasonCode.QuotaExceeded],
            await flood.SubscribeAllAsync(("g/1", QualityOfService.AtLeastOnce), ("g/2", QualityOfService.AtMostOnce)));
        Assert.True(Interlocked.Read(ref server.Server.Broker.Counters.RequestsRefusedStoreFull) >= 36);
        Assert.Contains(server.Logs.Lines, l => l.Contains("SUBSCRIBE of client 'flood' refused: the store is full", StringComparison.Ordinal));
        // The broker's durable path still works: a second publish is answered too.
        Assert.True(await pub.PublishAckedAsync("t/1", "again", QualityOfService.AtLeastOnce).WaitAsync(TimeSpan.FromSeconds(15))
            is ReasonCode.Success or ReasonCode.QuotaExceeded);
    }

    [Fact]
    public async Task MQTT_3_3_1_10_An_empty_retained_PUBLISH_deletes_a_retained_message_while_the_store_is_full()
    {
        // Review of the store-full fix: the door refused every retained PUBLISH while full, deletes too, so a store
        // filled with retained messages could never be emptied by clients. A delete only shrinks the store.
        using var dir = new TempDirectory();
        await using var server = await TestServer.StartWithStoreAsync(dir.Path, OneMiB);
        await using var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "pub", cleanSession: true, version: ProtocolVersion.V500);
        Assert.Equal(ReasonCode.NoMatchingSubscribers, await pub.PublishAckedAsync("keep/1", "retained", QualityOfService.AtLeastOnce, retain: true));
        await using var flood = await FillAsync(server);

        Assert.Equal(ReasonCode.QuotaExceeded, await pub.PublishAckedAsync("keep/2", "more", QualityOfService.AtLeastOnce, retain: true));
        // RetainedCount includes the broker's own $SYS topics: the delete takes exactly one away.
        var before = server.Server.Broker.RetainedCount;
        var delete = await pub.PublishAckedAsync("keep/1", [], QualityOfService.AtLeastOnce, retain: true);
        Assert.True(delete is ReasonCode.Success or ReasonCode.NoMatchingSubscribers, $"PUBACK {delete}");
        Assert.Equal(before - 1, server.Server.Broker.RetainedCount);
    }

    [Fact]
    public async Task MQTT_3_2_2_A_new_durable_session_is_refused_while_the_store_is_full_a_clean_one_and_a_resumed_one_connect()
    {
        using var dir = new TempDirectory();
        await using var server = await TestServer.StartWithStoreAsync(dir.Path, OneMiB);
        await using (var keeper = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "keeper", cleanSession: false))
        {
            await keeper.DisconnectAsync();
        }
        await using var flood = await FillAsync(server);

        // v5: CONNACK 0x97 Quota exceeded for a new session with an expiry.
        Assert.Equal(ReasonCode.QuotaExceeded, await ConnAckCodeAsync(server, "v5-durable", ProtocolVersion.V500, clean: true, expiry: 3600));
        // 3.1.1: CONNACK 3 Server unavailable for a new persistent session.
        Assert.Equal(ReasonCode.ServerUnavailable, await ConnAckCodeAsync(server, "v311-durable", ProtocolVersion.V311, clean: false));
        Assert.True(Interlocked.Read(ref server.Server.Broker.Counters.RequestsRefusedStoreFull) >= 3);

        // A clean session needs nothing stored: accepted (both versions).
        await using var clean5 = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "v5-clean", cleanSession: true, version: ProtocolVersion.V500);
        await using var clean311 = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "v311-clean", cleanSession: true);
        // Resuming a stored session adds no row: accepted, with its session.
        await using var resumed = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "keeper", cleanSession: false);
        Assert.True(resumed.SessionPresent);
    }

    private static async Task<ReasonCode> ConnAckCodeAsync(TestServer server, string clientId, ProtocolVersion version, bool clean, uint expiry = 0)
    {
        await using var client = await RawMqttClient.OpenAsync(server.Endpoint, clientId, version);
        await client.SendAsync(new ConnectPacket
        {
            ProtocolVersion = version,
            ClientId = clientId,
            CleanSession = clean,
            KeepAliveSeconds = 60,
            Properties = expiry > 0 ? new MqttProperties { SessionExpiryInterval = expiry } : null,
        });
        return (await client.ExpectAsync<ConnAckPacket>()).ReasonCode;
    }

    [Fact]
    public async Task Once_the_full_store_frees_space_durable_subscriptions_are_accepted_again()
    {
        using var dir = new TempDirectory();
        await using var server = await TestServer.StartWithStoreAsync(dir.Path, OneMiB);
        await using (var flood = await FillAsync(server))
        {
            Assert.Equal([ReasonCode.QuotaExceeded], await flood.SubscribeAllAsync(("h/0", QualityOfService.AtLeastOnce)));
            await flood.DisconnectAsync();
        }
        // Clean start ends the flood's stored session: its rows are deleted, which the writer commits even when full.
        await using (var again = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "flood", cleanSession: true, version: ProtocolVersion.V500))
        {
            await again.DisconnectAsync();
        }
        await using var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "later", cleanSession: true, version: ProtocolVersion.V500, sessionExpiry: 3600);
        await Eventually.GetAsync(() => sub.SubscribeAllAsync(("h/1", QualityOfService.AtLeastOnce)), c => c[0] == ReasonCode.GrantedQoS1,
            "a durable SUBSCRIBE accepted again");
        Assert.Equal([ReasonCode.GrantedQoS1], await sub.SubscribeAllAsync(("h/" + new string('x', 30_000), QualityOfService.AtLeastOnce)));
    }

    /// <summary>
    /// SQLite at its page limit: the write fails as out of space (typed, so the writer splits the batch instead of
    /// retrying it), nothing of the batch is applied, and the store stays usable for what fits.
    /// </summary>
    [Fact]
    public void A_batch_past_the_SQLite_page_limit_fails_as_out_of_space_and_the_store_stays_usable()
    {
        using var dir = new TempDirectory();
        using var store = Sqlite.SqliteStore.Open(dir.Path, new Sqlite.SqliteStoreOptions { MaxDatabaseSizeBytes = 1024 * 1024 });
        var big = new List<Broker.Storage.StoreOperation> { Broker.Storage.StoreOperation.UpsertSession(new Broker.Storage.StoredSession("a", 60, 1)) };
        big.AddRange(Enumerable.Range(0, 60).Select(i => Broker.Storage.StoreOperation.AddSubscription(
            new Broker.Storage.StoredSubscription("a", $"f/{i}/" + new string('x', 30_000), QualityOfService.AtMostOnce, false, false, RetainHandling.SendAtSubscribe, 0))));
        var ex = Assert.Throws<Broker.Storage.StoreException>(() => store.Apply(big));
        Assert.True(ex.IsOutOfSpace, ex.Message);
        Assert.Contains("Storage:MaxDatabaseSize", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.GetStatistics().Sessions);
        store.Apply(big.Take(3).ToList());
        Assert.Equal((1, 2), (store.GetStatistics().Sessions, store.GetStatistics().Subscriptions));
    }
}
