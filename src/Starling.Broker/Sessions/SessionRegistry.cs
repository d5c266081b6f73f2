using System.Collections.Concurrent;

namespace Starling.Broker;

/// <summary>
/// Sessions by client id. Opening and discarding serialize on one lock so that two CONNECTs with the same client id
/// cannot both win; lookups are lock-free.
/// Lock order: this registry's gate is the outermost lock: it may take a session's monitor (Claim, End, CancelWill,
/// TakeWill) and through it the session's flow; code holding a session or flow monitor never calls in here. The
/// displaced connection's <see cref="ISessionOwner.TakeOver"/> and will publishing run after the gate is released.
/// <paramref name="restoredAuthorization"/> gives a session restored from the store the permissions of its stored owner
/// (nobody has authenticated for it since the restart; null permissions would allow everything, its will included).
/// </summary>
internal sealed class SessionRegistry(
    BrokerOptions options, BrokerCounters counters, TimeProvider time, Storage.BrokerStorage storage, TopicIndex index,
    Action<Protocol.WillMessage, Security.IClientAuthorization?, string> publishWill, LimitLog limits,
    Func<Session, Security.IClientAuthorization?> restoredAuthorization)
{
    private readonly Lock _gate = new();
    private readonly SessionServices _sessionServices = new(options, counters, time, storage, limits);
    private readonly ConcurrentDictionary<string, Session> _byClientId = new(StringComparer.Ordinal);
    private readonly TakeoverThrottle _takeovers = new(time, options.Security.MaxTakeoversPerMinute);
    private readonly PersistentSessionCounts _persistent = new();

    // Every walk over all sessions (All, ExpireSessions, SampleQueueDepth), for tests that check a reader does not walk.
    private long _walks;
    private QueueDepth _queueDepth = new(0, 0, DateTimeOffset.UtcNow);

    public int Count => _byClientId.Count;

    /// <summary>How many times all sessions were walked since start (tests: a /metrics scrape must not add one).</summary>
    public long Walks => Interlocked.Read(ref _walks);

    public IEnumerable<Session> All
    {
        get
        {
            Interlocked.Increment(ref _walks);
            return _byClientId.Values;
        }
    }

    /// <summary>The last <see cref="SampleQueueDepth"/> result (an immutable object, replaced whole).</summary>
    public QueueDepth QueueDepth => Volatile.Read(ref _queueDepth);

    /// <summary>
    /// Sums the queued and inflight messages of every session into <see cref="QueueDepth"/> (called by the Heartbeat at
    /// most once per <see cref="MqttBroker.QueueDepthInterval"/>, and once after recovery). Each session's counts are
    /// read under its flow's monitor, one session at a time: the sum is not one atomic instant, which a gauge need not be.
    /// </summary>
    public void SampleQueueDepth()
    {
        Interlocked.Increment(ref _walks);
        long queued = 0, inflight = 0;
        // Enumerated, not `Values`: no lock of every bucket and no copy of every session (see Heartbeat.Tick).
        foreach (var (_, session) in _byClientId)
        {
            queued += session.QueuedCount;
            inflight += session.InflightCount;
        }
        Volatile.Write(ref _queueDepth, new QueueDepth(queued, inflight, time.GetUtcNow()));
    }

    public Session? Find(string clientId) => _byClientId.GetValueOrDefault(clientId);

    /// <summary>
    /// Opens the session for a CONNECT by <paramref name="identity"/> from <paramref name="source"/> (the remote address)
    /// (<see cref="SessionIdentity"/>) with the session expiry <paramref name="expiry"/> (already capped): takes over (and
    /// disconnects) an existing connection with the same client id [MQTT-3.1.4-2], discards the old state when
    /// <paramref name="cleanStart"/> is set or the old session was connection-scoped or expired, and otherwise resumes it.
    /// A session created by another identity is not touched when Auth:SessionOwnership refuses (the default), and a
    /// client id taken over too often is refused (Limits:MaxTakeoversPerMinute): then the result carries the refusal and
    /// no session; so does a new client id past Limits:MaxSessions, and a new persistent session past its owner's
    /// Limits:MaxPersistentSessionsPerAddress / PerUser (both counted and logged). <paramref name="ownerAddress"/>: what
    /// an anonymous client's persistent sessions are counted under (default: <paramref name="source"/>).
    /// </summary>
    public SessionOpening Open(string clientId, bool cleanStart, ISessionOwner connection, string identity, string source = "", uint expiry = 0,
        string? ownerAddress = null)
    {
        Session? existing;
        ISessionOwner? previous = null;
        bool present;
        Protocol.WillMessage? endedWill = null;
        Security.IClientAuthorization? endedAuthorization = null;
        lock (_gate)
        {
            // Only a new client id adds a session (a takeover or clean start replaces one); checked under the gate, so
            // concurrent CONNECTs cannot pass the limit together.
            if (options.MaxSessions > 0 && _byClientId.Count >= options.MaxSessions && !_byClientId.ContainsKey(clientId))
            {
                Interlocked.Increment(ref counters.SessionsRefused);
                limits.Write(LimitCause.Sessions, clientId);
                return new SessionOpening(null, false, SessionRefusal.SessionLimit);
            }
            var replace = false;
            var foreign = false;
            if (_byClientId.TryGetValue(clientId, out existing))
            {
                foreign = existing.Identity is { } owner && !SessionIdentity.SameOwner(owner, identity)
                    && options.Security.SessionOwnership != Security.SessionOwnership.Off;
                // A session created anonymously proves nothing about who may use its client id: it never keeps an
                // authenticated identity out (it is replaced, nothing of it is resumed), or any anonymous client could
                // squat on a user's client id for the whole session expiry.
                var squatted = foreign && SessionIdentity.IsAnonymous(existing.Identity!) && !SessionIdentity.IsAnonymous(identity);
                if (foreign && !squatted && options.Security.SessionOwnership == Security.SessionOwnership.Refuse)
                {
                    // Nothing changes: the owner stays connected, its session, queue and will are untouched.
                    return new SessionOpening(null, false, SessionRefusal.NotOwner);
                }
                // Decided before Claim, which makes the session connected (and so never expired).
                replace = foreign || cleanStart || existing.ExpiryInterval == 0 || existing.IsExpired(time.GetTimestamp());
            }
            var ownerKey = SessionIdentity.OwnerKey(identity, ownerAddress ?? source);
            if ((existing is null || replace) && expiry > 0 && !HasRoomForPersistent(ownerKey, replace ? existing : null))
            {
                // Checked before anything changes: the holder of the id (if any) keeps its connection and session.
                Interlocked.Increment(ref counters.PersistentSessionsRefused);
                limits.Write(LimitCause.PersistentSessions, clientId, ownerKey);
                return new SessionOpening(null, false, SessionRefusal.PersistentSessionLimit);
            }
            if (existing is not null)
            {
                if (existing.IsConnected && !_takeovers.TryTakeOver(clientId, source))
                {
                    return new SessionOpening(null, false, SessionRefusal.TakeoverRate);
                }
                previous = existing.Claim(connection);
                if (replace)
                {
                    // The old session ends now: a will it was delaying goes out [MQTT-3.1.3-9].
                    endedWill = existing.TakeWill(0, force: true);
                    endedAuthorization = existing.Authorization;
                    Unregister(existing);
                    RemoveSubscriptions(existing.End());
                    existing = null;
                }
            }
            if (existing is null)
            {
                existing = NewSession(clientId);
                // A persistent session's identity is its owner key (anonymous: with the address), counted from here.
                existing.Identity = expiry > 0 ? _persistent.Add(ownerKey) : identity;
                existing.Claim(connection);
                existing.ExpiryInterval = expiry;
                _byClientId[clientId] = existing;
                present = false;
            }
            else
            {
                // A session restored from a store written before ownership existed has no owner: the first identity
                // to resume it becomes its owner (docs/security.md), and is counted from now on (a resumed session is
                // persistent: one with expiry 0 is replaced above).
                existing.Identity ??= _persistent.Add(ownerKey);
                SetExpiryLocked(existing, expiry);
                existing.CancelWill();
                present = true;
            }
        }
        previous?.TakeOver();
        if (endedWill is not null)
        {
            publishWill(endedWill, endedAuthorization, clientId);
        }
        return new SessionOpening(existing, present, SessionRefusal.None);
    }

    /// <summary>
    /// A v5 DISCONNECT's new Session Expiry Interval (already capped): set under the gate, so the persistent-session
    /// counts follow a session that stops being persistent (it is then discarded when its connection ends).
    /// </summary>
    public void SetExpiry(Session session, uint expiry)
    {
        lock (_gate)
        {
            SetExpiryLocked(session, expiry);
        }
    }

    /// <summary>Persistent sessions counted for <paramref name="ownerKey"/> (tests, diagnostics).</summary>
    public int PersistentSessionsOf(string ownerKey)
    {
        lock (_gate)
        {
            return _persistent.CountOf(ownerKey);
        }
    }

    // Caller holds the gate. Whether ownerKey may create one more persistent session; `replaced` is a session of the
    // same client id that this CONNECT ends (its own count goes, so a client at its cap can still restart its session).
    private bool HasRoomForPersistent(string ownerKey, Session? replaced)
    {
        var limit = SessionIdentity.IsAnonymous(ownerKey) ? options.MaxPersistentSessionsPerAddress : options.MaxPersistentSessionsPerUser;
        if (limit <= 0)
        {
            return true;
        }
        var count = _persistent.CountOf(ownerKey);
        if (replaced is { ExpiryInterval: > 0, Identity: { } id } && id == ownerKey)
        {
            count--;
        }
        return count < limit;
    }

    // Caller holds the gate. Keeps the count of a registered session in step with a change of its expiry.
    private void SetExpiryLocked(Session session, uint expiry)
    {
        if (IsRegistered(session) && session.Identity is { } key && (session.ExpiryInterval > 0) != (expiry > 0))
        {
            if (expiry > 0)
            {
                session.Identity = _persistent.Add(key);
            }
            else
            {
                _persistent.Remove(key);
            }
        }
        session.ExpiryInterval = expiry;
    }

    // Caller holds the gate.
    private bool IsRegistered(Session session)
        => _byClientId.TryGetValue(session.ClientId, out var current) && ReferenceEquals(current, session);

    // Caller holds the gate and knows the session is the registered one: removes it and its count.
    private void Unregister(Session session)
    {
        _byClientId.TryRemove(session.ClientId, out _);
        if (session.ExpiryInterval > 0 && session.Identity is { } key)
        {
            _persistent.Remove(key);
        }
    }

    /// <summary>A new, unregistered session with the broker's limits, counters, clock and store.</summary>
    public Session NewSession(string clientId) => new(clientId, _sessionServices);

    /// <summary>
    /// Recovery: registers a session read back from the store (before any connection exists), with the permissions of
    /// its stored owner until a client of it connects: its delayed will is checked against them when it falls due.
    /// </summary>
    public void Restore(Session session)
    {
        session.Authorization = restoredAuthorization(session);
        lock (_gate)
        {
            _byClientId[session.ClientId] = session;
            if (session.ExpiryInterval > 0 && session.Identity is { } key)
            {
                // Restored owners are counted again (and share one identity string per owner).
                session.Identity = _persistent.Add(key);
            }
        }
    }

    /// <summary>Ends a session (clean session closed, or expired) if it is still the registered one.</summary>
    public void Discard(Session session)
    {
        lock (_gate)
        {
            if (IsRegistered(session))
            {
                Unregister(session);
            }
            else if (session.IsEnded)
            {
                return;
            }
            RemoveSubscriptions(session.End());
        }
        if (session.TakeWill(0, force: true) is { } will)
        {
            publishWill(will, session.Authorization, session.ClientId);
        }
    }

    /// <summary>Ends every offline session whose expiry interval has passed (called by the Heartbeat).</summary>
    public void ExpireSessions(long now)
    {
        Interlocked.Increment(ref _walks);
        lock (_gate)
        {
            _takeovers.Prune();
        }
        // Enumerated, not `Values`: no lock of every bucket and no copy of every session per tick (see Heartbeat.Tick).
        foreach (var (_, session) in _byClientId)
        {
            if (!session.IsConnected && session.TakeWill(now, force: false) is { } will)
            {
                publishWill(will, session.Authorization, session.ClientId);
            }
            if (!session.IsConnected && session.IsExpired(now))
            {
                lock (_gate)
                {
                    if (session.IsConnected || !session.IsExpired(now))
                    {
                        continue;
                    }
                }
                Discard(session);
            }
        }
    }

    private void RemoveSubscriptions(Subscription[] subscriptions)
    {
        foreach (var s in subscriptions)
        {
            index.Remove(s);
        }
    }
}

/// <summary>Why <see cref="SessionRegistry.Open"/> refused a CONNECT.</summary>
internal enum SessionRefusal
{
    None,
    /// <summary>The client id's session belongs to another identity (Auth:SessionOwnership refuse).</summary>
    NotOwner,
    /// <summary>The client id was taken over too often (Limits:MaxTakeoversPerMinute).</summary>
    TakeoverRate,
    /// <summary>A new client id would pass Limits:MaxSessions.</summary>
    SessionLimit,
    /// <summary>A new persistent session would pass its owner's Limits:MaxPersistentSessionsPerAddress / PerUser.</summary>
    PersistentSessionLimit,
}

/// <summary>What <see cref="SessionRegistry.Open"/> decided: the session and whether it was present, or a refusal.</summary>
internal readonly record struct SessionOpening(Session? Session, bool Present, SessionRefusal Refusal);
