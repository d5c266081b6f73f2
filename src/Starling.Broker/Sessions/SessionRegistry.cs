using System.Collections.Concurrent;

namespace Starling.Broker;

/// <summary>
/// Sessions by client id. Opening and discarding serialize on one lock so that two CONNECTs with the same client id
/// cannot both win; lookups are lock-free.
/// Lock order: this registry's gate is the outermost lock: it may take a session's monitor (Claim, End, CancelWill,
/// TakeWill) and through it the session's flow; code holding a session or flow monitor never calls in here. The
/// displaced connection's <see cref="ISessionOwner.TakeOver"/> and will publishing run after the gate is released.
/// </summary>
internal sealed class SessionRegistry(
    BrokerOptions options, BrokerCounters counters, TimeProvider time, Storage.BrokerStorage storage, TopicIndex index,
    Action<Protocol.WillMessage, string> publishWill, LimitLog limits)
{
    private readonly Lock _gate = new();
    private readonly SessionServices _sessionServices = new(options, counters, time, storage, limits);
    private readonly ConcurrentDictionary<string, Session> _byClientId = new(StringComparer.Ordinal);

    public int Count => _byClientId.Count;

    public IEnumerable<Session> All => _byClientId.Values;

    public Session? Find(string clientId) => _byClientId.GetValueOrDefault(clientId);

    /// <summary>
    /// Opens the session for a CONNECT: takes over (and disconnects) an existing connection with the same client id
    /// [MQTT-3.1.4-2], discards the old state when <paramref name="cleanStart"/> is set or the old session was
    /// connection-scoped, and otherwise resumes it. Returns the session and whether it was present; a null session
    /// when a new one would pass Limits:MaxSessions (nothing changed; counted and logged; the caller refuses the CONNECT).
    /// </summary>
    public (Session? Session, bool Present) Open(string clientId, bool cleanStart, ISessionOwner connection)
    {
        Session? existing;
        ISessionOwner? previous = null;
        bool present;
        Protocol.WillMessage? endedWill = null;
        lock (_gate)
        {
            // Only a new client id adds a session (a takeover or clean start replaces one); checked under the gate, so
            // concurrent CONNECTs cannot pass the limit together.
            if (options.MaxSessions > 0 && _byClientId.Count >= options.MaxSessions && !_byClientId.ContainsKey(clientId))
            {
                Interlocked.Increment(ref counters.SessionsRefused);
                limits.Write(LimitCause.Sessions, clientId);
                return (null, false);
            }
            if (_byClientId.TryGetValue(clientId, out existing))
            {
                previous = existing.Claim(connection);
                if (cleanStart || existing.ExpiryInterval == 0 || existing.IsExpired(time.GetTimestamp()))
                {
                    // The old session ends now: a will it was delaying goes out [MQTT-3.1.3-9].
                    endedWill = existing.TakeWill(0, force: true);
                    _byClientId.TryRemove(clientId, out _);
                    RemoveSubscriptions(existing.End());
                    existing = null;
                }
            }
            if (existing is null)
            {
                existing = NewSession(clientId);
                existing.Claim(connection);
                _byClientId[clientId] = existing;
                present = false;
            }
            else
            {
                existing.CancelWill();
                present = true;
            }
        }
        previous?.TakeOver();
        if (endedWill is not null)
        {
            publishWill(endedWill, clientId);
        }
        return (existing, present);
    }

    /// <summary>A new, unregistered session with the broker's limits, counters, clock and store.</summary>
    public Session NewSession(string clientId) => new(clientId, _sessionServices);

    /// <summary>Recovery: registers a session read back from the store (before any connection exists).</summary>
    public void Restore(Session session) => _byClientId[session.ClientId] = session;

    /// <summary>Ends a session (clean session closed, or expired) if it is still the registered one.</summary>
    public void Discard(Session session)
    {
        lock (_gate)
        {
            if (_byClientId.TryGetValue(session.ClientId, out var current) && ReferenceEquals(current, session))
            {
                _byClientId.TryRemove(session.ClientId, out _);
            }
            else if (session.IsEnded)
            {
                return;
            }
            RemoveSubscriptions(session.End());
        }
        if (session.TakeWill(0, force: true) is { } will)
        {
            publishWill(will, session.ClientId);
        }
    }

    /// <summary>Ends every offline session whose expiry interval has passed (called by the Heartbeat).</summary>
    public void ExpireSessions(long now)
    {
        // Enumerated, not `Values`: no lock of every bucket and no copy of every session per tick (see Heartbeat.Tick).
        foreach (var (_, session) in _byClientId)
        {
            if (!session.IsConnected && session.TakeWill(now, force: false) is { } will)
            {
                publishWill(will, session.ClientId);
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
