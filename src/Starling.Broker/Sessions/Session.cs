using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The MQTT session state of one client id: subscriptions, outbound inflight window and queue, inbound QoS 2 packet
/// ids awaiting PUBREL, expiry. It outlives its connection when the session expiry says so.
/// Concurrency: every field is guarded by the session's own monitor (<c>lock (this)</c>). Other sessions' connections reach it through
/// <see cref="Deliver"/>, which only appends and hands work to the attached connection's outbound queue, so the lock
/// is held for a few hundred nanoseconds at most and never across I/O.
/// <para>
/// Durability (docs/architecture.md, "Storage"): with a store configured, a session whose expiry interval is above 0
/// is <em>durable</em>: each state change queues a <see cref="StoreOperation"/> for the store's single writer (never
/// waiting for it). Its queue then has two parts: the in-memory <see cref="_queue"/> (at most
/// <see cref="BrokerStorage.PageSize"/> deliveries, only while attached) followed by deliveries that live only in the
/// store (<see cref="_pagedCount"/>, all with higher sequence numbers), read back a page at a time when the window has
/// room. Offline, a durable session keeps no queued message in memory, only their count and bytes. Outbound QoS 2
/// PUBLISH and PUBREL are sent only once the state they announce is committed, so a restart never delivers a QoS 2
/// message twice.
/// </para>
/// </summary>
internal sealed class Session
{
    // The session's own monitor (lock (this)) guards every field: no separate lock object, which would cost ~40 B
    // per session (idle-connection memory, docs/performance.md finding 2). Session is internal and sealed, so no
    // other code can take this monitor.
    private readonly BrokerContext _broker;
    private readonly BrokerStorage _storage;
    // Created on first use (an idle session that never received anything holds neither); counts are read as
    // _inflight?.Count / _queue?.Count so that looking does not allocate.
    private Dictionary<ushort, Delivery>? _inflight;
    private Queue<Delivery>? _queue;

    private static readonly Dictionary<ushort, Delivery> s_noInflight = [];

    private Dictionary<ushort, Delivery> Inflight => _inflight ??= [];

    private Queue<Delivery> Queue => _queue ??= new();
    // Created on first use: most sessions never subscribe or receive QoS 2, and an idle session should cost little.
    private HashSet<ushort>? _inboundQoS2;
    private Dictionary<string, Subscription>? _subscriptions;
    private long _queuedBytes;
    private ushort _lastPacketId;
    private long _sequence;
    private int _sendWindow;
    private uint _expiryInterval;
    private volatile MqttConnection? _connection;
    // The connection that has opened this session but not attached yet (between CONNECT and CONNACK).
    private volatile MqttConnection? _pendingOwner;

    // ---- durable sessions only ----
    private bool _durable;
    // Deliveries that are only in the store: they follow everything in _queue; _pageCursor is the highest sequence
    // number below all of them (the store is asked for queued deliveries above it).
    private long _pagedCount;
    private long _pagedBytes;
    private long _pageCursor;
    private bool _pageLoading;
    private int _pagedSinceRequest;
    // Bumped whenever an outstanding page read becomes stale (queue spilled to the store, session ended).
    private int _generation;
    // Attached, but the re-sends of unacknowledged messages wait for the store's next commit: new messages queue.
    private bool _resuming;
    // QoS 0 messages queued for an offline durable session (QueueQoS0Messages): memory only, never on disk.
    private Queue<Delivery>? _offlineQoS0;
    private long _offlineQoS0Bytes;

    private volatile Security.IClientAuthorization? _authorization;

    /// <summary>
    /// What the attached client may receive (set at CONNECT by the security layer; null = everything). Read without
    /// the lock by the Router on every delivery, hence volatile.
    /// </summary>
    public Security.IClientAuthorization? Authorization
    {
        get => _authorization;
        set => _authorization = value;
    }

    /// <summary>Acknowledgements of this session's inbound flows that wait for a store commit (see BrokerStorage.Acknowledge).</summary>
    public int DeferredAcks;

    public Session(BrokerContext broker, string clientId)
    {
        _broker = broker;
        _storage = broker.Storage;
        ClientId = clientId;
        DisconnectedTimestamp = broker.Time.GetTimestamp();
        _sendWindow = broker.Options.MaxInflightMessages;
    }

    public string ClientId { get; }

    /// <summary>The attached connection, if any.</summary>
    public MqttConnection? Connection => _connection;

    /// <summary>True while a connection is attached or is about to attach (the session is not expirable then).</summary>
    public bool IsConnected => _connection is not null || _pendingOwner is not null;

    /// <summary>Whether this session's state is written to the store.</summary>
    public bool IsDurable => _durable;

    /// <summary>True once an offline session has outlived its expiry interval.</summary>
    public bool IsExpired(long now)
        => !IsConnected && ExpiryInterval != uint.MaxValue
           && _broker.Time.GetElapsedTime(DisconnectedTimestamp, now) >= TimeSpan.FromSeconds(ExpiryInterval);

    /// <summary>
    /// Reserves the session for <paramref name="newOwner"/> (called under the registry lock by CONNECT) and returns
    /// the connection that held it, which the caller then disconnects. From here on the old connection's acks and
    /// its Detach are ignored, so it cannot end a session that has been taken over.
    /// </summary>
    public MqttConnection? Claim(MqttConnection newOwner)
    {
        lock (this)
        {
            // The holder may still be between CONNACK and Attach (only the pending owner): it must be closed too.
            var previous = _connection ?? _pendingOwner;
            _connection = null;
            _pendingOwner = newOwner;
            DisconnectedTimestamp = _broker.Time.GetTimestamp();
            return previous;
        }
    }

    /// <summary>
    /// Seconds the session outlives its connection: 0 ends it with the connection, uint.MaxValue never expires.
    /// With a store, the first value above 0 makes the session durable; every change is written.
    /// </summary>
    public uint ExpiryInterval
    {
        get => Volatile.Read(ref _expiryInterval);
        set
        {
            lock (this)
            {
                _expiryInterval = value;
                if (!_storage.Enabled || IsEnded)
                {
                    return;
                }
                _durable |= value > 0;
                if (_durable)
                {
                    _storage.Enqueue(StoreOperation.UpsertSession(ToStoredSession()));
                }
            }
        }
    }

    /// <summary>When the last connection ended (<see cref="TimeProvider.GetTimestamp"/>), for expiry.</summary>
    public long DisconnectedTimestamp { get; private set; }

    /// <summary>Set once the session has been discarded; a discarded session accepts nothing more.</summary>
    public bool IsEnded { get; private set; }

    public int InflightCount { get { lock (this) { return (_inflight?.Count ?? 0); } } }

    /// <summary>Queued deliveries held in memory (the rest of a durable session's queue is only in the store).</summary>
    public int InMemoryQueuedCount { get { lock (this) { return (_queue?.Count ?? 0) + (_offlineQoS0?.Count ?? 0); } } }

    /// <summary>Queued messages, in memory and (durable sessions) in the store.</summary>
    public int QueuedCount { get { lock (this) { return (int)Math.Min(int.MaxValue, (_queue?.Count ?? 0) + _pagedCount + (_offlineQoS0?.Count ?? 0)); } } }

    /// <summary>Subscriptions held (for Limits:MaxSubscriptionsPerClient).</summary>
    public int SubscriptionCount { get { lock (this) { return _subscriptions?.Count ?? 0; } } }

    // ---- subscriptions (changed only by the owning connection's read loop or at session end) ----

    public Subscription? GetSubscription(string filter)
    {
        lock (this)
        {
            return _subscriptions?.GetValueOrDefault(filter);
        }
    }

    public void SetSubscription(Subscription subscription)
    {
        lock (this)
        {
            (_subscriptions ??= new(StringComparer.Ordinal))[subscription.Filter] = subscription;
            if (_durable)
            {
                var o = subscription.Options;
                _storage.Enqueue(StoreOperation.AddSubscription(new StoredSubscription(ClientId, subscription.Filter, o.QoS, o.NoLocal,
                    o.RetainAsPublished, o.RetainHandling, subscription.SubscriptionId)));
            }
        }
    }

    public Subscription? RemoveSubscription(string filter)
    {
        lock (this)
        {
            if (_subscriptions is null || !_subscriptions.Remove(filter, out var removed))
            {
                return null;
            }
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.RemoveSubscription(ClientId, filter));
            }
            return removed;
        }
    }

    public Subscription[] Subscriptions
    {
        get
        {
            lock (this)
            {
                return _subscriptions is null ? [] : [.. _subscriptions.Values];
            }
        }
    }

    // ---- outbound: broker to client ----

    /// <summary>
    /// Hands one message to this session at the given (already downgraded) QoS. <paramref name="extraRoom"/>: how far
    /// past their message-count limits (Limits:MaxQueuedMessages, the QoS 0 outbound lane) the queues may grow for this
    /// delivery; the retained messages a SUBSCRIBE sends use their own number, so a subscription to 100,000 retained
    /// topics gets them all, as from Mosquitto, while live traffic keeps the normal limit. A cap, not an addition: a
    /// client that repeats the SUBSCRIBE without reading does not grow the queues further.
    /// </summary>
    public void Deliver(Message message, QualityOfService qos, bool retain, uint[]? subscriptionIds, SharedGroup? group = null, int extraRoom = 0)
    {
        lock (this)
        {
            if (IsEnded)
            {
                return;
            }
            var connection = _connection;
            if (group is not null)
            {
                // Shared-group deliveries can be handed to another member (TakeSharedForRedistribution): not counted.
                message.Pin();
            }
            var delivery = new Delivery(message, qos, retain, subscriptionIds, group) { Sequence = ++_sequence };
            if (qos == QualityOfService.AtMostOnce)
            {
                if (connection is not null)
                {
                    connection.SendQoS0(delivery, extraRoom);
                }
                else if (_broker.Options.QueueQoS0Messages)
                {
                    if (_durable)
                    {
                        EnqueueOfflineQoS0(delivery);
                    }
                    else
                    {
                        Enqueue(delivery);
                    }
                }
                return;
            }
            if (_durable)
            {
                DeliverDurable(ref delivery, connection, extraRoom);
            }
            else if (connection is not null && (_queue?.Count ?? 0) == 0 && (_inflight?.Count ?? 0) < _sendWindow)
            {
                StartFlow(ref delivery, connection);
            }
            else
            {
                Enqueue(delivery, extraRoom);
            }
        }
    }

    /// <summary>
    /// Binds a new connection: re-sends unacknowledged PUBLISH (DUP=1) and PUBREL in their original order
    /// [MQTT-4.4.0-1], then fills the window from the queue. Called after CONNACK has been queued.
    /// </summary>
    public void Attach(MqttConnection connection, int sendWindow)
    {
        lock (this)
        {
            if (!ReferenceEquals(_pendingOwner, connection) || IsEnded)
            {
                return;
            }
            _pendingOwner = null;
            _connection = connection;
            _sendWindow = Math.Clamp(sendWindow, 1, 65_000);
            _resuming = false;
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.UpsertSession(ToStoredSession()));
                SendOfflineQoS0(connection);
            }
            if ((_inflight?.Count ?? 0) > 0)
            {
                var pending = Inflight.Values.ToArray();
                Array.Sort(pending, static (a, b) => a.Sequence.CompareTo(b.Sequence));
                if (_durable)
                {
                    // Re-sent once the store holds every state change queued so far (a QoS 2 PUBLISH or PUBREL must not
                    // reach the client before the state it implies is durable); new messages queue meanwhile.
                    _resuming = true;
                    _storage.AfterCommit(new ResumeAfterCommit(this, connection, pending));
                    return;
                }
                Resend(connection, pending);
            }
            Drain(connection);
        }
    }

    /// <summary>Unbinds <paramref name="connection"/> if it is still the session's own.</summary>
    public bool Detach(MqttConnection connection)
    {
        lock (this)
        {
            if (ReferenceEquals(_pendingOwner, connection))
            {
                _pendingOwner = null;
            }
            else if (ReferenceEquals(_connection, connection))
            {
                _connection = null;
            }
            else
            {
                return false;
            }
            _resuming = false;
            DisconnectedTimestamp = _broker.Time.GetTimestamp();
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.UpsertSession(ToStoredSession()));
            }
            return true;
        }
    }

    /// <summary>PUBACK from the client: the QoS 1 flow ends [MQTT-4.3.2].</summary>
    public void OnPubAck(MqttConnection from, ushort packetId)
    {
        lock (this)
        {
            if (ReferenceEquals(_connection, from) && Inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubAck)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
            }
        }
    }

    /// <summary>PUBREC from the client: answer PUBREL (again, for a duplicate PUBREC) [MQTT-4.3.3-1]; a v5 failure code ends the flow.</summary>
    public void OnPubRec(MqttConnection from, ushort packetId, ReasonCode reason)
    {
        lock (this)
        {
            if (!ReferenceEquals(_connection, from))
            {
                return;
            }
            if (!Inflight.TryGetValue(packetId, out var d) || d.State is not (DeliveryState.AwaitingPubRec or DeliveryState.AwaitingPubComp))
            {
                from.SendAck(PacketType.PubRel, packetId, ReasonCode.PacketIdentifierNotFound);
                return;
            }
            if ((byte)reason >= 0x80)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
                return;
            }
            if (_durable)
            {
                if (d.State != DeliveryState.AwaitingPubComp)
                {
                    _storage.Enqueue(StoreOperation.UpdateDelivery(ClientId, d.Sequence, packetId, StoredDeliveryState.AwaitingPubComp));
                }
                d.State = DeliveryState.AwaitingPubComp;
                Inflight[packetId] = d;
                // PUBREL tells the client it may forget the packet id: only once "PUBREC received" is durable.
                _storage.AfterCommit(new SendAfterCommit(from, d, PacketType.PubRel));
                return;
            }
            d.State = DeliveryState.AwaitingPubComp;
            Inflight[packetId] = d;
            from.SendAck(PacketType.PubRel, packetId, ReasonCode.Success);
        }
    }

    /// <summary>PUBCOMP from the client: the QoS 2 flow ends.</summary>
    public void OnPubComp(MqttConnection from, ushort packetId)
    {
        lock (this)
        {
            if (ReferenceEquals(_connection, from) && Inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubComp)
            {
                Inflight.Remove(packetId);
                Completed(d);
                d.Message.Release();
                Drain(from);
            }
        }
    }

    /// <summary>
    /// A member of a shared subscription lost its connection: hands back the messages it got through a group that
    /// another connected member can take (v5 4.8.2): everything still queued, and QoS 1 messages sent but not
    /// acknowledged. QoS 2 messages already sent stay, since the client may have them (exactly once wins).
    /// Called after every successful <see cref="Detach"/>; a durable session then moves the rest of its queue
    /// out of memory (it stays in the store).
    /// </summary>
    public List<Delivery>? TakeSharedForRedistribution()
    {
        lock (this)
        {
            List<Delivery>? taken = null;
            if (_queue is { Count: > 0 } queue)
            {
                var keep = new Queue<Delivery>(queue.Count);
                while (queue.TryDequeue(out var d))
                {
                    if (d.Group is { } g && g.HasConnectedMemberOtherThan(this))
                    {
                        (taken ??= []).Add(d);
                        _queuedBytes -= d.Message.Payload.Length;
                        Completed(d);
                    }
                    else
                    {
                        keep.Enqueue(d);
                    }
                }
                while (keep.TryDequeue(out var d))
                {
                    queue.Enqueue(d);
                }
            }
            foreach (var (id, d) in _inflight ?? s_noInflight)
            {
                if (d.Group is { } g && d.State == DeliveryState.AwaitingPubAck && g.HasConnectedMemberOtherThan(this))
                {
                    (taken ??= []).Add(d);
                    _inflight!.Remove(id);
                    Completed(d);
                }
            }
            if (!IsConnected)
            {
                SpillToStore();
            }
            return taken;
        }
    }

    // ---- will delay (v5) ----

    private WillMessage? _delayedWill;
    private long _willDue;

    /// <summary>Holds the will until the Will Delay Interval passes or the session ends, whichever is first [MQTT-3.1.3-9].</summary>
    public void ScheduleWill(WillMessage will, uint delaySeconds)
    {
        lock (this)
        {
            _delayedWill = will;
            _willDue = _broker.Time.GetTimestamp() + (long)(delaySeconds * (double)_broker.Time.TimestampFrequency);
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.SetWill(ClientId, new StoredWill(will.Topic, will.Payload, will.QoS, will.Retain,
                    StoredProperties.Encode(will.Properties), _storage.NowMs + delaySeconds * 1000L)));
            }
        }
    }

    /// <summary>The delayed will if its time has come (or <paramref name="force"/>, at session end); clears it.</summary>
    public WillMessage? TakeWill(long now, bool force)
    {
        lock (this)
        {
            if (_delayedWill is not { } will || (!force && now < _willDue))
            {
                return null;
            }
            _delayedWill = null;
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.ClearWill(ClientId));
            }
            return will;
        }
    }

    /// <summary>A new connection resumed the session in time: the delayed will is not sent.</summary>
    public void CancelWill()
    {
        lock (this)
        {
            if (_delayedWill is not null && _durable)
            {
                _storage.Enqueue(StoreOperation.ClearWill(ClientId));
            }
            _delayedWill = null;
        }
    }

    // ---- inbound QoS 2: client to broker ----

    /// <summary>True the first time a QoS 2 packet id is seen; false for a re-sent PUBLISH before PUBREL [MQTT-4.3.3-2].</summary>
    public bool TryBeginInboundQoS2(ushort packetId)
    {
        lock (this)
        {
            if (!(_inboundQoS2 ??= []).Add(packetId))
            {
                return false;
            }
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.AddInboundQoS2(ClientId, packetId));
            }
            return true;
        }
    }

    public bool IsInboundQoS2Pending(ushort packetId)
    {
        lock (this)
        {
            return _inboundQoS2?.Contains(packetId) == true;
        }
    }

    /// <summary>PUBREL from the client: forget the packet id; false when it was not known.</summary>
    public bool CompleteInboundQoS2(ushort packetId)
    {
        lock (this)
        {
            if (_inboundQoS2 is null || !_inboundQoS2.Remove(packetId))
            {
                return false;
            }
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.RemoveInboundQoS2(ClientId, packetId));
            }
            return true;
        }
    }

    public int InboundQoS2Count { get { lock (this) { return _inboundQoS2?.Count ?? 0; } } }

    /// <summary>Marks the session ended and returns its subscriptions so the caller can drop them from the index.</summary>
    public Subscription[] End()
    {
        lock (this)
        {
            if (_durable)
            {
                _storage.Enqueue(StoreOperation.DeleteSession(ClientId));
                _durable = false;
            }
            IsEnded = true;
            _connection = null;
            _pendingOwner = null;
            _inflight?.Clear();
            _queue?.Clear();
            _queuedBytes = 0;
            _pagedCount = 0;
            _pagedBytes = 0;
            _generation++;
            _offlineQoS0 = null;
            _offlineQoS0Bytes = 0;
            _inboundQoS2 = null;
            var subscriptions = _subscriptions?.Values.ToArray() ?? [];
            _subscriptions = null;
            return subscriptions;
        }
    }

    // ---- recovery (before any connection exists; no store operations) ----

    public void Restore(StoredSession stored, long nowTimestamp, long nowMs)
    {
        lock (this)
        {
            _durable = true;
            _expiryInterval = stored.ExpiryInterval;
            // A session that was connected when the broker stopped counts its expiry from the restart.
            DisconnectedTimestamp = stored.DisconnectedAtMs is { } at ? nowTimestamp - _storage.MsToTicks(Math.Max(0, nowMs - at)) : nowTimestamp;
            if (stored.Will is { } w)
            {
                _delayedWill = new WillMessage { Topic = w.Topic, Payload = w.Payload, QoS = w.QoS, Retain = w.Retain, Properties = StoredProperties.Decode(w.Properties) };
                _willDue = nowTimestamp + _storage.MsToTicks(w.DueAtMs - nowMs);
            }
        }
    }

    public void RestoreSubscription(Subscription subscription)
    {
        lock (this)
        {
            (_subscriptions ??= new(StringComparer.Ordinal))[subscription.Filter] = subscription;
        }
    }

    public void RestoreQueue(long count, long bytes, long lastSequence)
    {
        lock (this)
        {
            _pagedCount = count;
            _pagedBytes = bytes;
            _pageCursor = 0;
            _sequence = Math.Max(_sequence, lastSequence);
        }
    }

    public void RestoreInflight(Delivery delivery)
    {
        lock (this)
        {
            Inflight[delivery.PacketId] = delivery;
            _sequence = Math.Max(_sequence, delivery.Sequence);
        }
    }

    public void RestoreInboundQoS2(ushort packetId)
    {
        lock (this)
        {
            (_inboundQoS2 ??= []).Add(packetId);
        }
    }

    // ---- store callbacks (writer thread) ----

    /// <summary>The store committed everything queued before the attach: re-send, then fill the window.</summary>
    private void OnResume(MqttConnection connection, Delivery[] pending)
    {
        lock (this)
        {
            if (!ReferenceEquals(_connection, connection) || IsEnded || !_resuming)
            {
                return;
            }
            _resuming = false;
            var current = new List<Delivery>(pending.Length);
            foreach (var d in pending)
            {
                // Skip flows that ended meanwhile; take the latest state of the others.
                if (Inflight.TryGetValue(d.PacketId, out var now) && now.Sequence == d.Sequence)
                {
                    current.Add(now);
                }
            }
            Resend(connection, current);
            Drain(connection);
        }
    }

    /// <summary>A page of queued deliveries read from the store (null when the read failed, which was logged).</summary>
    public void OnPageLoaded(int generation, List<Delivery>? page, int requested)
    {
        lock (this)
        {
            if (generation != _generation || IsEnded)
            {
                return;
            }
            _pageLoading = false;
            if (page is null)
            {
                return;
            }
            foreach (var d in page)
            {
                if (d.Sequence <= _pageCursor)
                {
                    continue;
                }
                _pageCursor = d.Sequence;
                var size = d.Message.Payload.Length;
                Queue.Enqueue(d);
                _queuedBytes += size;
                _pagedCount--;
                _pagedBytes -= size;
            }
            if (_pagedCount < 0 || (page.Count < requested && _pagedSinceRequest == 0))
            {
                // The store has nothing more after the cursor and nothing was added since the read: counters are exact again.
                _pagedCount = 0;
                _pagedBytes = 0;
            }
            if (_connection is { } connection)
            {
                Drain(connection);
            }
            else
            {
                SpillToStore();
            }
        }
    }

    // ---- internals (caller holds the session's monitor) ----

    private StoredSession ToStoredSession()
    {
        long? disconnectedAt = null;
        if (_connection is null && _pendingOwner is null)
        {
            disconnectedAt = _storage.NowMs - (long)_broker.Time.GetElapsedTime(DisconnectedTimestamp).TotalMilliseconds;
        }
        return new StoredSession(ClientId, _expiryInterval, disconnectedAt);
    }

    private void DeliverDurable(ref Delivery delivery, MqttConnection? connection, int extraRoom = 0)
    {
        var toWindow = connection is not null && !_resuming && (_queue?.Count ?? 0) == 0 && _pagedCount == 0 && (_inflight?.Count ?? 0) < _sendWindow;
        var size = delivery.Message.Payload.Length;
        if (!toWindow)
        {
            var options = _broker.Options;
            var count = (_queue?.Count ?? 0) + _pagedCount + (_offlineQoS0?.Count ?? 0);
            var bytes = _queuedBytes + _pagedBytes + _offlineQoS0Bytes;
            if (count >= (long)options.MaxQueuedMessages + extraRoom || (options.MaxQueuedBytes > 0 && bytes + size > options.MaxQueuedBytes))
            {
                Interlocked.Increment(ref _broker.Counters.MessagesDroppedQueueFull);
                return;
            }
        }
        _storage.Enqueue(StoreOperation.AddDelivery(new StoredDelivery(ClientId, delivery.Sequence, _storage.ToStored(delivery.Message),
            delivery.QoS, delivery.Retain, delivery.SubscriptionIds, 0, StoredDeliveryState.Queued)));
        if (toWindow)
        {
            StartFlow(ref delivery, connection!);
        }
        else if (connection is not null && _pagedCount == 0 && (_queue?.Count ?? 0) < BrokerStorage.PageSize)
        {
            Queue.Enqueue(delivery);
            _queuedBytes += size;
        }
        else
        {
            if (_pagedCount == 0)
            {
                _pageCursor = delivery.Sequence - 1;
            }
            _pagedCount++;
            _pagedBytes += size;
            _pagedSinceRequest++;
            if (connection is not null)
            {
                MaybeReadPage();
            }
        }
    }

    private void EnqueueOfflineQoS0(in Delivery delivery)
    {
        var options = _broker.Options;
        var size = delivery.Message.Payload.Length;
        var count = (_queue?.Count ?? 0) + _pagedCount + (_offlineQoS0?.Count ?? 0);
        if (count >= options.MaxQueuedMessages || (options.MaxQueuedBytes > 0 && _queuedBytes + _pagedBytes + _offlineQoS0Bytes + size > options.MaxQueuedBytes))
        {
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedQueueFull);
            return;
        }
        delivery.Message.Pin();
        (_offlineQoS0 ??= new Queue<Delivery>()).Enqueue(delivery);
        _offlineQoS0Bytes += size;
    }

    private void SendOfflineQoS0(MqttConnection connection)
    {
        if (_offlineQoS0 is not { } queue)
        {
            return;
        }
        var now = _broker.Time.GetTimestamp();
        while (queue.TryDequeue(out var d))
        {
            if (!d.Message.IsExpired(_broker.Time, now))
            {
                connection.SendQoS0(d);
            }
        }
        _offlineQoS0 = null;
        _offlineQoS0Bytes = 0;
    }

    /// <summary>Moves the in-memory queue of an offline durable session back to the store (where it already is).</summary>
    private void SpillToStore()
    {
        if (!_durable || (_queue?.Count ?? 0) == 0)
        {
            return;
        }
        _pageCursor = Queue.Peek().Sequence - 1;
        _pagedCount += (_queue?.Count ?? 0);
        _pagedBytes += _queuedBytes;
        _queue?.Clear();
        _queuedBytes = 0;
        _generation++;
        _pageLoading = false;
    }

    private void MaybeReadPage()
    {
        if (_pagedCount > 0 && !_pageLoading && _connection is not null && (_queue?.Count ?? 0) < BrokerStorage.PageLowWater)
        {
            _pageLoading = true;
            _pagedSinceRequest = 0;
            _storage.RequestPage(this, _pageCursor, BrokerStorage.PageSize - (_queue?.Count ?? 0), _generation);
        }
    }

    private void Resend(MqttConnection connection, IEnumerable<Delivery> pending)
    {
        foreach (var d in pending)
        {
            if (d.State == DeliveryState.AwaitingPubComp)
            {
                connection.SendAck(PacketType.PubRel, d.PacketId, ReasonCode.Success);
            }
            else
            {
                connection.SendPublish(d, dup: true);
            }
        }
    }

    /// <summary>A delivery left the session (acknowledged, expired, dropped or handed to another member).</summary>
    private void Completed(in Delivery d)
    {
        if (_durable && d.QoS != QualityOfService.AtMostOnce)
        {
            _storage.Enqueue(StoreOperation.RemoveDelivery(ClientId, d.Sequence));
        }
    }

    private void Enqueue(in Delivery delivery, int extraRoom = 0)
    {
        var options = _broker.Options;
        var size = delivery.Message.Payload.Length;
        if ((_queue?.Count ?? 0) >= (long)options.MaxQueuedMessages + extraRoom || (options.MaxQueuedBytes > 0 && _queuedBytes + size > options.MaxQueuedBytes))
        {
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedQueueFull);
            return;
        }
        // A queue entry is a counted holder: Drain releases it once the delivery has moved on (to the inflight table
        // or the outbound queue, which count their own) or was dropped. Other ways out (session end, the store,
        // redistribution of pinned shared messages) leave it to the GC.
        delivery.Message.AddRef();
        Queue.Enqueue(delivery);
        _queuedBytes += size;
    }

    private void Drain(MqttConnection connection)
    {
        if (_resuming)
        {
            return;
        }
        var now = 0L;
        while ((_inflight?.Count ?? 0) < _sendWindow && _queue?.TryDequeue(out var next) == true)
        {
            _queuedBytes -= next.Message.Payload.Length;
            Forward(ref next, connection, ref now);
            // The queue entry's counted reference (taken by Enqueue) ends here: whatever still needs the message
            // (inflight table, outbound queue) took its own in Forward.
            next.Message.Release();
        }
        if (_durable)
        {
            MaybeReadPage();
        }
    }

    /// <summary>One delivery out of the queue: dropped when expired or no longer allowed, else sent.</summary>
    private void Forward(ref Delivery next, MqttConnection connection, ref long now)
    {
        if (next.Message.Properties?.MessageExpiryInterval is not null)
        {
            now = now == 0 ? _broker.Time.GetTimestamp() : now;
            if (next.Message.IsExpired(_broker.Time, now))
            {
                Interlocked.Increment(ref _broker.Counters.MessagesExpired);
                Completed(next);
                return;
            }
        }
        // Queued while this session's permissions were unknown (restored from disk after a restart, before its
        // client came back): the read check the Router could not make is made now, with the CONNECT's permissions.
        if (_authorization?.CanReceive(next.Message.Topic) == false)
        {
            Completed(next);
            return;
        }
        if (next.QoS == QualityOfService.AtMostOnce)
        {
            connection.SendQoS0(next);
        }
        else
        {
            StartFlow(ref next, connection);
        }
    }

    private void StartFlow(ref Delivery delivery, MqttConnection connection)
    {
        if (!connection.Fits(delivery))
        {
            // Larger than the client's Maximum Packet Size: discard as if sent and acknowledged [MQTT-3.1.2-25].
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedTooLarge);
            Completed(delivery);
            return;
        }
        delivery.PacketId = NextPacketId();
        delivery.State = delivery.QoS == QualityOfService.AtLeastOnce ? DeliveryState.AwaitingPubAck : DeliveryState.AwaitingPubRec;
        // The inflight entry is a counted holder until PUBACK/PUBCOMP (or a failed PUBREC) removes it; any other way
        // out of the table (session end, redistribution of pinned shared messages) leaves the count to the GC.
        delivery.Message.AddRef();
        Inflight[delivery.PacketId] = delivery;
        if (_durable)
        {
            _storage.Enqueue(StoreOperation.UpdateDelivery(ClientId, delivery.Sequence, delivery.PacketId, (StoredDeliveryState)delivery.State));
            if (delivery.QoS == QualityOfService.ExactlyOnce)
            {
                // The client keeps a QoS 2 packet id until PUBREL: the id must be durable before the PUBLISH leaves, or a
                // restart would send the message again under another id and the client would deliver it twice.
                _storage.AfterCommit(new SendAfterCommit(connection, delivery, PacketType.Publish));
                return;
            }
        }
        connection.SendPublish(delivery, dup: false);
    }

    private ushort NextPacketId()
    {
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (Inflight.ContainsKey(_lastPacketId));
        return _lastPacketId;
    }

    private sealed class ResumeAfterCommit(Session session, MqttConnection connection, Delivery[] pending) : ICommitCallback
    {
        public void OnCommitted(IStore store) => session.OnResume(connection, pending);
    }

    private sealed class SendAfterCommit(MqttConnection connection, Delivery delivery, PacketType what) : ICommitCallback
    {
        public void OnCommitted(IStore store)
        {
            if (what == PacketType.PubRel)
            {
                connection.SendAck(PacketType.PubRel, delivery.PacketId, ReasonCode.Success);
            }
            else
            {
                connection.SendPublish(delivery, dup: false);
            }
        }
    }
}
