using System.Text;
using Starling.Broker.Storage;
using Starling.Protocol;
using Starling.Storage.Sqlite;
using Starling.Storage.Tests.Infrastructure;

namespace Starling.Storage.Tests;

/// <summary>
/// What every <see cref="IStore"/> must do. A new implementation (PostgreSQL, ...) derives a class that says how to
/// create the store and how to reopen it (close and open the same data again); every test here then runs against it.
/// </summary>
public abstract class StoreContractTests : IDisposable
{
    private IStore? _store;
    private long _nextMessageId;

    /// <summary>A new, empty store.</summary>
    protected abstract IStore Create();

    /// <summary>The same data after a restart: close <paramref name="store"/> and open it again.</summary>
    protected abstract IStore Reopen(IStore store);

    protected IStore Store => _store ??= Create();

    private void Restart() => _store = Reopen(Store);

    public virtual void Dispose()
    {
        _store?.Dispose();
        GC.SuppressFinalize(this);
    }

    private StoredMessage Message(string topic = "t", string payload = "p", MqttProperties? properties = null, long? expiresAt = null) => new()
    {
        Id = ++_nextMessageId,
        Topic = topic,
        Payload = Encoding.UTF8.GetBytes(payload),
        QoS = QualityOfService.AtLeastOnce,
        Retain = false,
        Properties = StoredProperties.Encode(properties),
        PublisherClientId = "pub",
        CreatedAtMs = 1_700_000_000_000,
        ExpiresAtMs = expiresAt,
    };

    private static StoreOperation Add(string client, long seq, StoredMessage m, QualityOfService qos = QualityOfService.AtLeastOnce, uint[]? ids = null)
        => StoreOperation.AddDelivery(new StoredDelivery(client, seq, m, qos, false, ids, 0, StoredDeliveryState.Queued));

    private void Apply(params StoreOperation[] operations) => Store.Apply(operations);

    [Fact]
    public void An_empty_store_loads_nothing()
    {
        var c = Store.Load();
        Assert.Empty(c.Sessions);
        Assert.Empty(c.Subscriptions);
        Assert.Empty(c.Inflight);
        Assert.Empty(c.Queues);
        Assert.Empty(c.InboundQoS2);
        Assert.Empty(c.Retained);
        Assert.Equal(0, c.MaxMessageId);
    }

    [Fact]
    public void Sessions_are_created_updated_and_survive_a_restart()
    {
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), StoreOperation.UpsertSession(new StoredSession("b", uint.MaxValue, 123)));
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 120, 456)));
        Restart();
        var sessions = Store.Load().Sessions.OrderBy(s => s.ClientId, StringComparer.Ordinal).ToList();
        Assert.Equal([new StoredSession("a", 120, 456), new StoredSession("b", uint.MaxValue, 123)], sessions);
    }

    [Fact]
    public void Subscriptions_are_added_replaced_and_removed()
    {
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)),
            StoreOperation.AddSubscription(new StoredSubscription("a", "x/#", QualityOfService.AtLeastOnce, false, false, RetainHandling.SendAtSubscribe, 0)),
            StoreOperation.AddSubscription(new StoredSubscription("a", "$share/g/y", QualityOfService.ExactlyOnce, false, true, RetainHandling.DoNotSend, 7)),
            StoreOperation.AddSubscription(new StoredSubscription("a", "x/#", QualityOfService.ExactlyOnce, true, false, RetainHandling.SendAtSubscribeIfNew, 3)),
            StoreOperation.AddSubscription(new StoredSubscription("a", "z", QualityOfService.AtMostOnce, false, false, RetainHandling.SendAtSubscribe, 0)));
        Apply(StoreOperation.RemoveSubscription("a", "z"));
        Restart();
        var subs = Store.Load().Subscriptions.OrderBy(s => s.Filter, StringComparer.Ordinal).ToList();
        Assert.Equal(
        [
            new StoredSubscription("a", "$share/g/y", QualityOfService.ExactlyOnce, false, true, RetainHandling.DoNotSend, 7),
            new StoredSubscription("a", "x/#", QualityOfService.ExactlyOnce, true, false, RetainHandling.SendAtSubscribeIfNew, 3),
        ], subs);
    }

    [Fact]
    public void A_message_for_many_sessions_is_stored_once_and_deleted_with_its_last_delivery()
    {
        var m = Message(payload: "fan-out");
        var ops = new List<StoreOperation>();
        for (var i = 0; i < 1000; i++)
        {
            ops.Add(StoreOperation.UpsertSession(new StoredSession($"s{i}", 60, 1)));
            ops.Add(Add($"s{i}", 1, m));
        }
        Store.Apply(ops);
        var stats = Store.GetStatistics();
        Assert.Equal(1, stats.Messages);
        Assert.Equal(1000, stats.Deliveries);

        Store.Apply([.. Enumerable.Range(0, 999).Select(i => StoreOperation.RemoveDelivery($"s{i}", 1))]);
        Assert.Equal(1, Store.GetStatistics().Messages);
        Apply(StoreOperation.RemoveDelivery("s999", 1));
        Assert.Equal(new StoreStatistics(1000, 0, 0, 0, 0, 0), Store.GetStatistics());
    }

    [Fact]
    public void Queued_deliveries_are_summarized_and_read_in_pages_in_sequence_order()
    {
        var ops = new List<StoreOperation> { StoreOperation.UpsertSession(new StoredSession("a", 60, 1)), StoreOperation.UpsertSession(new StoredSession("b", 60, 1)) };
        for (var seq = 1; seq <= 10; seq++)
        {
            ops.Add(Add("a", seq, Message(payload: new string('x', seq))));
        }
        ops.Add(Add("b", 5, Message()));
        Store.Apply(ops);
        Apply(StoreOperation.UpdateDelivery("a", 1, 17, StoredDeliveryState.AwaitingPubAck), StoreOperation.RemoveDelivery("a", 4));
        Restart();

        var c = Store.Load();
        var a = Assert.Single(c.Queues, q => q.ClientId == "a");
        Assert.Equal(8, a.Count); // 10 - one inflight - one removed
        Assert.Equal(Enumerable.Range(1, 10).Sum() - 1 - 4, a.Bytes);
        Assert.Equal(10, a.LastSequence);
        var inflight = Assert.Single(c.Inflight);
        Assert.Equal(("a", 1L, (ushort)17, StoredDeliveryState.AwaitingPubAck), (inflight.ClientId, inflight.Sequence, inflight.PacketId, inflight.State));

        var page1 = Store.LoadQueued("a", 0, 3);
        Assert.Equal([2L, 3, 5], page1.Select(d => d.Sequence));
        var page2 = Store.LoadQueued("a", page1[^1].Sequence, 100);
        Assert.Equal([6L, 7, 8, 9, 10], page2.Select(d => d.Sequence));
        Assert.Equal("xxxxxxxxxx", Encoding.UTF8.GetString(page2[^1].Message.Payload));
        Assert.Empty(Store.LoadQueued("a", 10, 100));
        Assert.Equal([5L], Store.LoadQueued("b", 0, 100).Select(d => d.Sequence));
    }

    [Fact]
    public void Delivery_states_go_from_queued_to_inflight_to_released_and_keep_packet_ids()
    {
        var m = Message();
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), Add("a", 1, m, QualityOfService.ExactlyOnce, [3, 9]),
            Add("a", 2, m, QualityOfService.ExactlyOnce));
        Apply(StoreOperation.UpdateDelivery("a", 1, 100, StoredDeliveryState.AwaitingPubRec),
            StoreOperation.UpdateDelivery("a", 2, 101, StoredDeliveryState.AwaitingPubRec));
        Apply(StoreOperation.UpdateDelivery("a", 1, 100, StoredDeliveryState.AwaitingPubComp));
        Restart();
        var inflight = Store.Load().Inflight;
        Assert.Equal([(1L, (ushort)100, StoredDeliveryState.AwaitingPubComp), (2L, (ushort)101, StoredDeliveryState.AwaitingPubRec)],
            inflight.Select(d => (d.Sequence, d.PacketId, d.State)));
        Assert.Equal([3u, 9u], inflight[0].SubscriptionIds!);
        Assert.Null(inflight[1].SubscriptionIds);
        Assert.Equal(QualityOfService.ExactlyOnce, inflight[0].QoS);
    }

    [Fact]
    public void Inbound_QoS2_ids_are_added_once_and_removed()
    {
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), StoreOperation.AddInboundQoS2("a", 1), StoreOperation.AddInboundQoS2("a", 1),
            StoreOperation.AddInboundQoS2("a", 65535), StoreOperation.AddInboundQoS2("a", 7));
        Apply(StoreOperation.RemoveInboundQoS2("a", 7), StoreOperation.RemoveInboundQoS2("a", 8));
        Restart();
        Assert.Equal([1, 65535], Store.Load().InboundQoS2.Select(i => (int)i.PacketId).Order().ToArray());
    }

    [Fact]
    public void Retained_messages_are_set_replaced_and_removed_and_share_messages_with_deliveries()
    {
        var first = Message("r/1", "one");
        var second = Message("r/1", "two");
        var other = Message("r/2", "other");
        Apply(StoreOperation.SetRetained(first), StoreOperation.SetRetained(other));
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, 1)), Add("a", 1, second), StoreOperation.SetRetained(second));
        Assert.Equal(2, Store.GetStatistics().Messages); // "one" was replaced; "two" is shared by the retained topic and the delivery
        Apply(StoreOperation.RemoveDelivery("a", 1));
        Apply(StoreOperation.RemoveRetained("r/2"), StoreOperation.RemoveRetained("nothing/here"));
        Restart();
        var retained = Assert.Single(Store.Load().Retained);
        Assert.Equal(("r/1", "two"), (retained.Topic, Encoding.UTF8.GetString(retained.Payload)));
        Assert.Equal(1, Store.GetStatistics().Messages);
    }

    [Fact]
    public void Message_fields_and_properties_round_trip()
    {
        var properties = new MqttProperties
        {
            PayloadFormatIndicator = 1,
            MessageExpiryInterval = 30,
            ContentType = "text/plain",
            ResponseTopic = "reply/here",
            CorrelationData = [1, 2, 3],
            UserProperties = [new UserProperty("k", "v"), new UserProperty("k", "v2")],
        };
        var m = Message("a/b", "héllo", properties, expiresAt: 1_700_000_030_000);
        Apply(StoreOperation.SetRetained(m));
        Restart();
        var back = Assert.Single(Store.Load().Retained);
        Assert.Equal((m.Id, m.Topic, m.QoS, m.Retain, m.PublisherClientId, m.CreatedAtMs, m.ExpiresAtMs),
            (back.Id, back.Topic, back.QoS, back.Retain, back.PublisherClientId, back.CreatedAtMs, back.ExpiresAtMs));
        Assert.Equal(m.Payload, back.Payload);
        var p = StoredProperties.Decode(back.Properties)!;
        Assert.Equal((properties.PayloadFormatIndicator, properties.MessageExpiryInterval, properties.ContentType, properties.ResponseTopic),
            (p.PayloadFormatIndicator, p.MessageExpiryInterval, p.ContentType, p.ResponseTopic));
        Assert.Equal(properties.CorrelationData, p.CorrelationData);
        Assert.Equal(properties.UserProperties, p.UserProperties);
        Assert.Equal(m.Id, Store.Load().MaxMessageId);
    }

    [Fact]
    public void A_delayed_will_is_kept_by_session_updates_and_cleared()
    {
        var will = new StoredWill("will/t", [9, 9], QualityOfService.AtLeastOnce, true, StoredProperties.Encode(new MqttProperties { ContentType = "x" }), 42);
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), StoreOperation.SetWill("a", will));
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, 5)));
        Restart();
        var session = Assert.Single(Store.Load().Sessions);
        Assert.NotNull(session.Will);
        Assert.Equal((will.Topic, will.QoS, will.Retain, will.DueAtMs), (session.Will.Topic, session.Will.QoS, session.Will.Retain, session.Will.DueAtMs));
        Assert.Equal(will.Payload, session.Will.Payload);
        Assert.Equal("x", StoredProperties.Decode(session.Will.Properties)!.ContentType);
        Apply(StoreOperation.ClearWill("a"));
        Assert.Null(Assert.Single(Store.Load().Sessions).Will);
    }

    [Fact]
    public void Deleting_a_session_deletes_everything_it_owns_and_nothing_else()
    {
        var shared = Message();
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), StoreOperation.UpsertSession(new StoredSession("b", 60, null)),
            StoreOperation.AddSubscription(new StoredSubscription("a", "x", QualityOfService.AtLeastOnce, false, false, RetainHandling.SendAtSubscribe, 0)),
            Add("a", 1, shared), Add("a", 2, Message()), Add("b", 1, shared), StoreOperation.AddInboundQoS2("a", 5),
            StoreOperation.SetWill("a", new StoredWill("w", [], QualityOfService.AtMostOnce, false, null, 1)));
        Apply(StoreOperation.DeleteSession("a"));
        Restart();
        var c = Store.Load();
        Assert.Equal(["b"], c.Sessions.Select(s => s.ClientId));
        Assert.Empty(c.Subscriptions);
        Assert.Empty(c.InboundQoS2);
        Assert.Equal([("b", 1L)], c.Queues.Select(q => (q.ClientId, q.Count)));
        Assert.Equal(1, Store.GetStatistics().Messages);
    }

    [Fact]
    public void A_session_deleted_and_created_again_in_one_batch_starts_empty()
    {
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), Add("a", 1, Message()));
        Apply(StoreOperation.DeleteSession("a"), StoreOperation.UpsertSession(new StoredSession("a", 30, null)), Add("a", 1, Message(payload: "new")));
        var c = Store.Load();
        Assert.Equal(30u, Assert.Single(c.Sessions).ExpiryInterval);
        Assert.Equal("new", Encoding.UTF8.GetString(Assert.Single(Store.LoadQueued("a", 0, 10)).Message.Payload));
    }

    [Fact]
    public void A_message_stored_again_after_its_last_reference_went_is_kept()
    {
        // A later batch may refer to a message whose earlier references are gone (e.g. a retained message delivered
        // while it is being replaced): each batch that refers to a message stores it again if needed.
        var m = Message();
        Apply(StoreOperation.UpsertSession(new StoredSession("a", 60, null)), Add("a", 1, m));
        Apply(StoreOperation.RemoveDelivery("a", 1));
        Assert.Equal(0, Store.GetStatistics().Messages);
        Apply(Add("a", 2, m));
        Assert.Equal(m.Payload, Assert.Single(Store.LoadQueued("a", 0, 10)).Message.Payload);
    }

    [Fact]
    public void Large_batches_apply_in_one_call()
    {
        var ops = new List<StoreOperation> { StoreOperation.UpsertSession(new StoredSession("a", 60, null)) };
        for (var i = 1; i <= 20_000; i++)
        {
            ops.Add(Add("a", i, Message(payload: i.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }
        Store.Apply(ops);
        Restart();
        Assert.Equal(20_000, Assert.Single(Store.Load().Queues).Count);
        Assert.Equal(20_000, Store.LoadQueued("a", 0, 100_000).Count);
    }
}

public sealed class MemoryStoreContractTests : StoreContractTests
{
    protected override IStore Create() => new MemoryStore();

    protected override IStore Reopen(IStore store) => store; // memory lives as long as the instance
}

public sealed class SqliteStoreContractTests : StoreContractTests
{
    private readonly TempDirectory _directory = new();

    protected override IStore Create() => SqliteStore.Open(_directory.Path);

    protected override IStore Reopen(IStore store)
    {
        store.Dispose();
        return SqliteStore.Open(_directory.Path);
    }

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }
}
