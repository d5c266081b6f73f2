using System.Diagnostics;
using System.Runtime.CompilerServices;
using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The MQTT session state of one client id: identity, subscriptions, expiry, the delayed will, inbound QoS 2 packet
/// ids awaiting PUBREL and the binding to a connection. It outlives its connection when the session expiry says so.
/// The broker-to-client half (inflight window, queue, packet ids, acks) is its <see cref="OutboundFlow"/>; the store
/// side of a durable session is its <see cref="SessionJournal"/> (null for in-memory sessions).
/// <para>
/// Concurrency: the fields here are guarded by the session's own monitor (<c>lock (this)</c>: no lock object per
/// session, which would cost ~40 B per idle connection, docs/performance.md finding 2; internal and sealed, so no other
/// code takes it). The outbound flow has its own monitor, so deliveries (every publisher's read loop) never contend
/// with this one. Lock order: SessionRegistry's gate -> this monitor -> the flow's monitor -> the sink's queue lock;
/// code holding the flow's monitor never takes this one.
/// </para>
/// </summary>
internal sealed partial class Session
{
    private readonly SessionServices _services;
    private readonly OutboundFlow _flow;
    // Durable sessions only (set once the expiry interval is above 0 with a store; cleared at End).
    private SessionJournal? _journal;
    // Created on first use: most sessions never subscribe or receive QoS 2, and an idle session should cost little.
    private Dictionary<string, Subscription>? _subscriptions;
    private long _subscriptionBytes; // UTF-8 bytes of the filters in _subscriptions (Limits:MaxSubscriptionBytesPerClient)
    private uint _expiryInterval;
    private volatile ISessionOwner? _owner;
    // The connection that has opened this session but not attached yet (between CONNECT and CONNACK).
    private volatile ISessionOwner? _pendingOwner;
    // A v5 will waiting for its Will Delay Interval; one object (rare) instead of two fields on every session.
    private DelayedWill? _delayedWill;

    public Session(string clientId, SessionServices services)
    {
        _services = services;
        _flow = new OutboundFlow(services, clientId);
        ClientId = clientId;
        DisconnectedTimestamp = services.Time.GetTimestamp();
    }

    public string ClientId { get; }

    /// <summary>
    /// The identity that created the session (<see cref="SessionIdentity"/>); only that identity resumes it. Null for
    /// a session restored from a store written before ownership was recorded (the first identity to connect adopts
    /// it). Read and written under the <see cref="SessionRegistry"/>'s gate; stored with the session.
    /// </summary>
    public string? Identity { get; set; }

    /// <summary>
    /// What the attached client may receive and its will may publish (set at CONNECT by the security layer; for a
    /// session restored from the store, the permissions of its stored owner until a client connects; null = everything:
    /// only when nothing restricts anyone). Read without a lock by the Router on every delivery (volatile, kept by the
    /// flow, which re-checks queued messages with it).
    /// </summary>
    public IClientAuthorization? Authorization
    {
        get => _flow.Authorization;
        set => _flow.Authorization = value;
    }

    /// <summary>The attached connection, if any.</summary>
    public ISessionOwner? Owner => _owner;

    /// <summary>True while a connection is attached or is about to attach (the session is not expirable then).</summary>
    public bool IsConnected => _owner is not null || _pendingOwner is not null;

    /// <summary>True once an offline session has outlived its expiry interval.</summary>
    public bool IsExpired(long now)
        => !IsConnected && ExpiryInterval != uint.MaxValue
           && _services.Time.GetElapsedTime(DisconnectedTimestamp, now) >= TimeSpan.FromSeconds(ExpiryInterval);

    /// <summary>When the last connection ended (<see cref="TimeProvider.GetTimestamp"/>), for expiry.</summary>
    public long DisconnectedTimestamp { get; private set; }

    /// <summary>Set once the session has been discarded; a discarded session accepts nothing more.</summary>
    public bool IsEnded { get; private set; }

    public int InflightCount => _flow.InflightCount;

    /// <summary>Queued deliveries held in memory (the rest of a durable session's queue is only in the store).</summary>
    public int InMemoryQueuedCount => _flow.InMemoryQueuedCount;

    /// <summary>Queued messages, in memory and (durable sessions) in the store.</summary>
    public int QueuedCount => _flow.QueuedCount;

    /// <summary>Subscriptions held (for Limits:MaxSubscriptionsPerClient).</summary>
    public int SubscriptionCount { get { lock (this) { return _subscriptions?.Count ?? 0; } } }

    /// <summary>UTF-8 bytes of the topic filters held (for Limits:MaxSubscriptionBytesPerClient).</summary>
    public long SubscriptionBytes { get { lock (this) { return _subscriptionBytes; } } }

    /// <summary>Messages dropped for this session, by reason (finding 20; lock-free).</summary>
    public void CountDrop(DropReason reason) => _flow.CountDrop(reason);
    /// <summary>This session's drops by reason label (only reasons with a count).</summary>
    public IReadOnlyDictionary<string, long> Drops => _flow.Drops;

    // ---- binding ----

    /// <summary>
    /// Reserves the session for <paramref name="newOwner"/> (called under the registry lock by CONNECT) and returns
    /// the connection that held it, which the caller then disconnects. From here on the old connection's acks and
    /// its Detach are ignored, so it cannot end a session that has been taken over.
    /// </summary>
    public ISessionOwner? Claim(ISessionOwner newOwner)
    {
        lock (this)
        {
            AssertLockOrder();
            // The holder may still be between CONNACK and Attach (only the pending owner): it must be closed too.
            var previous = _owner ?? _pendingOwner;
            _owner = null;
            _pendingOwner = newOwner;
            // Deliveries queue from now on; the old connection's acks no longer match the flow's sink.
            _flow.Detach();
            DisconnectedTimestamp = _services.Time.GetTimestamp();
            return previous;
        }
    }

    /// <summary>
    /// Binds the claiming connection (after CONNACK has been queued): the flow re-sends unacknowledged messages in
    /// order [MQTT-4.4.0-1], then fills the window from the queue.
    /// </summary>
    public void Attach(ISessionOwner owner, int sendWindow)
    {
        lock (this)
        {
            AssertLockOrder();
            if (!ReferenceEquals(_pendingOwner, owner) || IsEnded)
            {
                return;
            }
            _pendingOwner = null;
            _owner = owner;
            _journal?.UpsertSession(ToStoredSession());
            _flow.Attach(owner.Sink, sendWindow);
        }
    }

    /// <summary>Unbinds <paramref name="owner"/> if it is still the session's own.</summary>
    public bool Detach(ISessionOwner owner)
    {
        lock (this)
        {
            AssertLockOrder();
            if (ReferenceEquals(_pendingOwner, owner))
            {
                _pendingOwner = null;
            }
            else if (ReferenceEquals(_owner, owner))
            {
                _owner = null;
            }
            else
            {
                return false;
            }
            _flow.Detach();
            DisconnectedTimestamp = _services.Time.GetTimestamp();
            _journal?.UpsertSession(ToStoredSession());
            return true;
        }
    }

    /// <summary>
    /// Seconds the session outlives its connection: 0 ends it with the connection, uint.MaxValue never expires.
    /// With a store, the first value above 0 makes the session durable (it stays so); every change is written.
    /// </summary>
    public uint ExpiryInterval
    {
        get => Volatile.Read(ref _expiryInterval);
        set
        {
            lock (this)
            {
                AssertLockOrder();
                _expiryInterval = value;
                if (!_services.Storage.Enabled || IsEnded)
                {
                    return;
                }
                if (_journal is null && value > 0)
                {
                    _journal = new SessionJournal(_services.Storage, ClientId);
                    _flow.SetJournal(_journal);
                }
                _journal?.UpsertSession(ToStoredSession());
            }
        }
    }

    // ---- outbound (the flow's monitor, not this one) ----

    /// <summary>
    /// Hands one message to this session at the given (already downgraded) QoS. <paramref name="extraRoom"/>: how far
    /// past their message-count limits (Limits:MaxQueuedMessages, the QoS 0 outbound lane) the queues may grow for this
    /// delivery; the retained messages a SUBSCRIBE sends use their own number, so a subscription to 100,000 retained
    /// topics gets them all, as from Mosquitto, while live traffic keeps the normal limit. A cap, not an addition.
    /// Returns the congested subscriber (if the QoS 0 lane is congested but moving) and the commit ticket of what the
    /// delivery queued for the store. On every publish: allocation-free, one lock (the flow's).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public DeliverResult Deliver(Message message, QualityOfService qos, bool retain, uint[]? subscriptionIds, SharedGroup? group = null, int extraRoom = 0)
        => _flow.Deliver(message, qos, retain, subscriptionIds, group, extraRoom);

    /// <summary>PUBACK from the client (ignored unless <paramref name="from"/> is the bound connection).</summary>
    public AckResult OnPubAck(IDeliverySink from, ushort packetId) => _flow.OnPubAck(from, packetId);

    /// <summary>PUBREC from the client.</summary>
    public AckResult OnPubRec(IDeliverySink from, ushort packetId, ReasonCode reason) => _flow.OnPubRec(from, packetId, reason);

    /// <summary>PUBCOMP from the client.</summary>
    public AckResult OnPubComp(IDeliverySink from, ushort packetId) => _flow.OnPubComp(from, packetId);

    /// <summary>
    /// Called after every successful <see cref="Detach"/>: the deliveries a shared-subscription member leaves for another
    /// member (see <see cref="OutboundFlow.TakeShared"/>).
    /// </summary>
    public List<Delivery>? TakeSharedForRedistribution()
    {
        lock (this)
        {
            AssertLockOrder();
            return _flow.TakeShared(this, IsConnected);
        }
    }

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
            PutSubscription(subscription);
            _journal?.AddSubscription(subscription);
        }
    }

    // Caller holds the monitor. Keeps _subscriptionBytes in step with the map.
    private void PutSubscription(Subscription subscription)
    {
        var map = _subscriptions ??= new(StringComparer.Ordinal);
        _subscriptionBytes += map.ContainsKey(subscription.Filter) ? 0 : System.Text.Encoding.UTF8.GetByteCount(subscription.Filter);
        map[subscription.Filter] = subscription;
    }

    public Subscription? RemoveSubscription(string filter)
    {
        lock (this)
        {
            if (_subscriptions is null || !_subscriptions.Remove(filter, out var removed))
            {
                return null;
            }
            _subscriptionBytes -= System.Text.Encoding.UTF8.GetByteCount(filter);
            _journal?.RemoveSubscription(filter);
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

    // ---- will delay (v5) ----

    /// <summary>Holds the will until the Will Delay Interval passes or the session ends, whichever is first [MQTT-3.1.3-9].</summary>
    public void ScheduleWill(WillMessage will, uint delaySeconds)
    {
        lock (this)
        {
            _delayedWill = new DelayedWill(will, _services.Time.GetTimestamp() + (long)(delaySeconds * (double)_services.Time.TimestampFrequency));
            _journal?.SetWill(will, delaySeconds);
        }
    }

    /// <summary>The delayed will if its time has come (or <paramref name="force"/>, at session end); clears it.</summary>
    public WillMessage? TakeWill(long now, bool force)
    {
        lock (this)
        {
            if (_delayedWill is not { } delayed || (!force && now < delayed.Due))
            {
                return null;
            }
            _delayedWill = null;
            _journal?.ClearWill();
            return delayed.Will;
        }
    }

    /// <summary>A new connection resumed the session in time: the delayed will is not sent.</summary>
    public void CancelWill()
    {
        lock (this)
        {
            if (_delayedWill is not null)
            {
                _journal?.ClearWill();
            }
            _delayedWill = null;
        }
    }

    // ---- end ----

    /// <summary>Marks the session ended and returns its subscriptions so the caller can drop them from the index.</summary>
    public Subscription[] End()
    {
        lock (this)
        {
            AssertLockOrder();
            // The flow first: once it has ended (under its monitor) no delivery can queue a store operation, so the
            // DeleteSession below is the session's last one and a new session with this id starts clean.
            _flow.End();
            _journal?.DeleteSession();
            _journal = null;
            IsEnded = true;
            _owner = null;
            _pendingOwner = null;
            _inboundQoS2 = null;
            var subscriptions = _subscriptions?.Values.ToArray() ?? [];
            _subscriptions = null;
            _subscriptionBytes = 0;
            return subscriptions;
        }
    }

    /// <summary>
    /// Debug builds: the lock order holds (a thread that holds this session's flow monitor must never take the session's,
    /// since every path here takes the session's first and the flow's second).
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertLockOrder() => Debug.Assert(!Monitor.IsEntered(_flow), "lock order: Session's monitor is taken before its OutboundFlow's, never after");

    private StoredSession ToStoredSession()
    {
        long? disconnectedAt = null;
        if (_owner is null && _pendingOwner is null)
        {
            disconnectedAt = _services.Storage.NowMs - (long)_services.Time.GetElapsedTime(DisconnectedTimestamp).TotalMilliseconds;
        }
        return new StoredSession(ClientId, _expiryInterval, disconnectedAt) { Owner = Identity };
    }
}

/// <summary>A will held for its Will Delay Interval: the message and when it is due (<see cref="TimeProvider.GetTimestamp"/>).</summary>
internal sealed record DelayedWill(WillMessage Will, long Due);
