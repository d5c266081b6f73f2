using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker.Storage;

/// <summary>
/// The broker's side of durability: owns the <see cref="StoreWriter"/> when a store is configured, converts messages
/// to and from their stored form, defers acknowledgements until their batch commits, and restores state at start-up.
/// With no store (<see cref="Enabled"/> false) every method is a no-op or a direct send, so the broker behaves as
/// before storage existed and its hot paths never touch this class beyond one branch.
/// </summary>
internal sealed class BrokerStorage
{
    /// <summary>Queued deliveries a durable session keeps in memory while attached; more stay in the store.</summary>
    public const int PageSize = 256;

    /// <summary>When the in-memory queue falls below this, the next page is read from the store.</summary>
    public const int PageLowWater = 64;

    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly IStore? _store;
    private readonly StoreWriter? _writer;
    private readonly LogThrottle _refusedLog;
    private readonly LogThrottle _pausedLog;
    private readonly LogThrottle _requestRefusedLog;
    private readonly BrokerCounters _counters;
    private long _lastMessageId;
    private int _closed;

    public BrokerStorage(IStore? store, TimeProvider time, ILogger log, StoreLimits? limits = null, BrokerCounters? counters = null)
    {
        _time = time;
        _log = log;
        _store = store;
        _counters = counters ?? new BrokerCounters();
        _refusedLog = new LogThrottle(time, TimeSpan.FromSeconds(10));
        _pausedLog = new LogThrottle(time, TimeSpan.FromSeconds(10));
        _requestRefusedLog = new LogThrottle(time, TimeSpan.FromSeconds(10));
        if (store is not null)
        {
            _writer = new StoreWriter(store, log, limits ?? StoreLimits.Default, time);
        }
    }

    /// <summary>The store is (nearly) at its size limit: a message that would have to be stored must be refused.</summary>
    public bool IsFull => _writer is { IsFull: true };

    /// <summary>The write queue is past its limits: a publisher that queued store work should stop reading for a while.</summary>
    public bool IsBackedUp => _writer is { IsBackedUp: true };

    /// <summary>Completes when the write queue has room again (at once without a store or when it has room).</summary>
    public Task WaitForRoomAsync() => _writer?.WaitForRoomAsync() ?? Task.CompletedTask;

    /// <summary>A publish refused because the store is full: one log line per 10 s at most.</summary>
    public void LogRefusedFull(string clientId, string topic)
    {
        if (_refusedLog.ShouldLog(out var suppressed))
        {
            StorageLog.PublishRefusedStoreFull(_log, Security.LogText.Escape(clientId), Security.LogText.Escape(topic), suppressed, _refusedLog.IntervalSeconds);
        }
    }

    /// <summary>
    /// Whether a request that would make a durable session's state grow (<paramref name="request"/>: "SUBSCRIBE",
    /// "CONNECT") must be refused because the store is full; counts (RequestsRefusedStoreFull) and logs (one line per
    /// 10 s at most) the refusal. False at once without a store.
    /// </summary>
    public bool RefuseGrowth(string request, string clientId)
    {
        if (!IsFull)
        {
            return false;
        }
        Interlocked.Increment(ref _counters.RequestsRefusedStoreFull);
        if (_requestRefusedLog.ShouldLog(out var suppressed))
        {
            StorageLog.RequestRefusedStoreFull(_log, request, Security.LogText.Escape(clientId), suppressed, _requestRefusedLog.IntervalSeconds);
        }
        return true;
    }

    /// <summary>A publisher paused for the write queue: one log line per 10 s at most.</summary>
    public void LogPaused()
    {
        if (_writer is { } writer && _pausedLog.ShouldLog(out var suppressed))
        {
            StorageLog.PublishersPaused(_log, _store!.Description, writer.PendingOperations, writer.PendingBytes, suppressed, _pausedLog.IntervalSeconds);
        }
    }

    public bool Enabled => _writer is not null;

    public IStore? Store => _store;

    public StoreWriter? Writer => _writer;

    public long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Queues one operation for the writer; the ticket names it (default when there is no store).</summary>
    public CommitTicket Enqueue(in StoreOperation operation) => _writer?.Enqueue(operation) ?? default;

    public void AfterCommit(ICommitCallback callback) => _writer!.AfterCommit(callback);

    /// <summary>
    /// Sends PUBACK / PUBREC / PUBCOMP for an inbound flow: at once when nothing it depends on is waiting for the store,
    /// else after the batch holding <paramref name="ticket"/> commits (the operations the PUBLISH or PUBREL queued, carried
    /// back by the handler). Once one ack of a session waits, the following ones wait behind it, so acks keep the order
    /// of the packets they answer [MQTT-4.6.0-2].
    /// </summary>
    public void Acknowledge(Session session, IDeliverySink connection, CommitTicket ticket, PacketType type, ushort packetId, ReasonCode reason)
    {
        if (_writer is null || !session.MustDeferAck(ticket))
        {
            connection.SendAck(type, packetId, reason);
            return;
        }
        session.AckDeferred();
        // Callbacks run after the batch holding every operation queued before them, so after the ticket's.
        _writer.AfterCommit(new AckAfterCommit(session, connection, type, packetId, reason, _counters));
    }

    /// <summary>The stored form of a message, created once per message (ids are unique per store).</summary>
    public StoredMessage ToStored(Message message)
    {
        if (message.Stored is { } stored)
        {
            return stored;
        }
        // The store writer and in-memory queues keep it beyond any counted reference (Message, "Lifetime").
        message.Pin();
        var now = NowMs;
        var created = now - (long)_time.GetElapsedTime(message.CreatedTimestamp).TotalMilliseconds;
        var fresh = new StoredMessage
        {
            Id = Interlocked.Increment(ref _lastMessageId),
            Topic = message.Topic,
            Payload = message.PayloadArray(),
            QoS = message.QoS,
            Retain = message.Retain,
            Properties = StoredProperties.Encode(message.Properties),
            AccountedSize = message.AccountedSize,
            PublisherClientId = message.PublisherClientId,
            CreatedAtMs = created,
            ExpiresAtMs = message.Properties?.MessageExpiryInterval is uint expiry ? created + expiry * 1000L : null,
        };
        return Interlocked.CompareExchange(ref message.Stored, fresh, null) ?? fresh;
    }

    /// <summary>A message read back from the store; its age (for expiry) carries over from the wall clock.</summary>
    public Message FromStored(StoredMessage s, long nowTimestamp, long nowMs)
        => new(s.Topic, s.Payload, s.QoS, s.Retain, StoredProperties.Decode(s.Properties), s.PublisherClientId, nowTimestamp - MsToTicks(nowMs - s.CreatedAtMs))
        {
            Stored = s,
        };

    public long MsToTicks(long ms) => (long)(ms / 1000.0 * _time.TimestampFrequency);

    /// <summary>Reads the next queued deliveries of <paramref name="clientId"/> after the writer's current batch, for its flow.</summary>
    public void RequestPage(OutboundFlow flow, string clientId, long afterSequence, int limit, int generation)
        => _writer!.AfterCommit(new PageRead(this, flow, clientId, afterSequence, limit, generation));

    /// <summary>
    /// Restores sessions, subscriptions, deliveries, inbound QoS 2 ids, retained messages and delayed wills from the
    /// store, then ends expired sessions (publishing wills that fell due while the broker was down).
    /// </summary>
    /// <exception cref="StoreException">The store cannot be read; the broker must not start.</exception>
    public void Recover(RetainedStore retained, SessionRegistry sessions, TopicIndex index)
    {
        if (_store is null)
        {
            return;
        }
        StoreContents contents;
        try
        {
            contents = _store.Load();
        }
        catch (StoreException)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new StoreException($"Cannot load the broker state from {_store.Description}: {ex.Message}", ex);
        }
        _lastMessageId = contents.MaxMessageId;
        var nowTs = _time.GetTimestamp();
        var nowMs = NowMs;
        try
        {
            Restore(contents, nowTs, nowMs, retained, sessions, index);
        }
        catch (Exception ex) when (ex is not StoreException)
        {
            throw new StoreException($"The state in {_store.Description} cannot be restored: {ex.Message} " +
                "Move the data directory aside to start empty, or restore a backup.", ex);
        }
        sessions.ExpireSessions(nowTs);
    }

    private void Restore(StoreContents contents, long nowTs, long nowMs, RetainedStore retainedStore, SessionRegistry registry, TopicIndex index)
    {
        var retained = 0;
        foreach (var m in contents.Retained)
        {
            if (m.ExpiresAtMs is { } expires && expires <= nowMs)
            {
                Enqueue(StoreOperation.RemoveRetained(m.Topic));
                continue;
            }
            retainedStore.Restore(FromStored(m, nowTs, nowMs));
            retained++;
        }

        var sessions = new Dictionary<string, Session>(StringComparer.Ordinal);
        foreach (var s in contents.Sessions)
        {
            var session = registry.NewSession(s.ClientId);
            session.Restore(s, nowTs, nowMs);
            registry.Restore(session);
            sessions[s.ClientId] = session;
        }
        foreach (var s in contents.Subscriptions)
        {
            if (!sessions.TryGetValue(s.ClientId, out var session))
            {
                continue;
            }
            var topicFilter = s.Filter;
            string? shareName = null;
            if (s.Filter.StartsWith("$share/", StringComparison.Ordinal) && TopicValidator.IsSharedSubscription(s.Filter, out var name, out var inner))
            {
                shareName = name;
                topicFilter = inner;
            }
            var subscription = new Subscription(session, s.Filter, topicFilter,
                new SubscriptionOptions(s.QoS, s.NoLocal, s.RetainAsPublished, s.RetainHandling), s.SubscriptionId, shareName);
            index.Add(subscription);
            session.RestoreSubscription(subscription);
        }
        long queued = 0;
        foreach (var q in contents.Queues)
        {
            if (sessions.TryGetValue(q.ClientId, out var session))
            {
                session.RestoreQueue(q.Count, q.Bytes, q.LastSequence);
                queued += q.Count;
            }
        }
        var messages = new Dictionary<long, Message>();
        foreach (var d in contents.Inflight)
        {
            if (!sessions.TryGetValue(d.ClientId, out var session))
            {
                continue;
            }
            if (!messages.TryGetValue(d.Message.Id, out var message))
            {
                messages[d.Message.Id] = message = FromStored(d.Message, nowTs, nowMs);
            }
            session.RestoreInflight(new Delivery(message, d.QoS, d.Retain, d.SubscriptionIds)
            {
                Sequence = d.Sequence,
                PacketId = d.PacketId,
                State = (DeliveryState)d.State,
            });
        }
        foreach (var i in contents.InboundQoS2)
        {
            if (sessions.TryGetValue(i.ClientId, out var session))
            {
                session.RestoreInboundQoS2(i.PacketId);
            }
        }
        StorageLog.Restored(_log, _store!.Description, sessions.Count, contents.Subscriptions.Count, queued, contents.Inflight.Count, retained);
    }

    /// <summary>Writes everything queued, stops the writer and closes the store.</summary>
    public async Task StopAsync()
    {
        if (_writer is null)
        {
            return;
        }
        await _writer.StopAsync().ConfigureAwait(false);
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _store!.Dispose();
        }
    }

    /// <summary>
    /// An inbound acknowledgement sent after its commit. When the store refused something queued before it
    /// (<see cref="CommitOutcome.Refused"/>), a PUBACK / PUBREC that would say "accepted" is not sent: MQTT 5 gets 0x97
    /// Quota exceeded (a QoS 2 id is forgotten first, as the flow ends there), 3.1.1 has no failure code and the
    /// connection is closed without the ack, so the client sends the message again. A PUBCOMP goes as it is: what it
    /// waited for is the removal of the packet id, which the writer writes before anything that grows the store.
    /// </summary>
    private sealed class AckAfterCommit(Session session, IDeliverySink connection, PacketType type, ushort packetId, ReasonCode reason,
        BrokerCounters counters) : ICommitCallback
    {
        public void OnCommitted(IStore store, CommitOutcome outcome)
        {
            if (outcome == CommitOutcome.Refused && type is PacketType.PubAck or PacketType.PubRec && (byte)reason < 0x80)
            {
                Interlocked.Increment(ref counters.MessagesRefusedStoreFull);
                if (connection.HasFailureAcks)
                {
                    if (type == PacketType.PubRec)
                    {
                        session.CompleteInboundQoS2(packetId, out _);
                    }
                    connection.SendAck(type, packetId, ReasonCode.QuotaExceeded);
                }
                else
                {
                    connection.CloseUnacknowledged("the store had no room for the message (Storage:MaxDatabaseSize or a full disk): PUBLISH not acknowledged");
                }
            }
            else
            {
                connection.SendAck(type, packetId, reason);
            }
            session.DeferredAckSent();
        }
    }

    private sealed class PageRead(BrokerStorage owner, OutboundFlow flow, string clientId, long afterSequence, int limit, int generation) : ICommitCallback
    {
        // A read: what the store refused is simply not there (the page is short; SessionJournal.EndPage corrects its counters).
        public void OnCommitted(IStore store, CommitOutcome outcome)
        {
            List<Delivery>? page = null;
            try
            {
                var rows = store.LoadQueued(clientId, afterSequence, limit);
                page = new List<Delivery>(rows.Count);
                var nowTs = owner._time.GetTimestamp();
                var nowMs = owner.NowMs;
                Message? last = null;
                foreach (var row in rows)
                {
                    // Consecutive deliveries often share a message; reuse the object rather than decode it again.
                    var message = last?.Stored?.Id == row.Message.Id ? last : owner.FromStored(row.Message, nowTs, nowMs);
                    last = message;
                    page.Add(new Delivery(message, row.QoS, row.Retain, row.SubscriptionIds) { Sequence = row.Sequence });
                }
            }
            catch (Exception ex)
            {
                StorageLog.PageReadFailed(owner._log, ex, Security.LogText.Escape(clientId), store.Description, ex.Message);
            }
            flow.OnPageLoaded(generation, page, limit);
        }
    }
}
