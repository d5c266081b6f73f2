using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The broker: one instance per process, built before any listener binds. Transports hand it one duplex pipe per
/// connection; everything MQTT happens here. Also its management surface (read-only views and administrative
/// actions, safe from any thread) and its security figures.
/// </summary>
public sealed class MqttBroker : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly BrokerCounters _counters;
    private readonly TopicIndex _index;
    private readonly RetainedStore _retained;
    private readonly LimitLog _limitLog;
    private readonly SessionRegistry _sessions;
    private readonly Router _router;
    private readonly BrokerStorage _storage;
    private readonly SecurityRuntime _security;
    private readonly ConnectionRegistry _connections = new();
    private readonly ConnectionServices _connectionServices;
    private readonly Heartbeat _heartbeat;
    private readonly long _startTimestamp;
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    // Published messages for reuse; this broker's own (docs/architecture.md, "Message lifetime").
    private readonly MessagePool _messagePool = new();

    /// <summary>
    /// Builds the broker. With a <paramref name="store"/>, its state (sessions, subscriptions, queued and inflight
    /// messages, retained messages, delayed wills) is restored before this returns, so no connection can see a
    /// half-restored broker, and every later change is written to it (docs/architecture.md, "Storage").
    /// </summary>
    /// <exception cref="StoreException">The store cannot be read; the message says which file and what to do.</exception>
    public MqttBroker(BrokerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, IStore? store = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        loggerFactory ??= NullLoggerFactory.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _log = loggerFactory.CreateLogger("Starling.Broker");
        _counters = new BrokerCounters();
        _index = new TopicIndex();
        _storage = new BrokerStorage(store, _time, _log, StoreLimits.From(options), _counters);
        _limitLog = new LimitLog(_log, _time, options.LimitLogInterval, options);
        _retained = new RetainedStore(_storage, options, _counters, _limitLog);
        _router = new Router(_index, _counters);
        _security = new SecurityRuntime(options, loggerFactory, _time);
        var wills = new WillPublisher(options, _time, _retained, _router, _security);
        _sessions = new SessionRegistry(options, _counters, _time, _storage, _index, wills.Publish, _limitLog,
            session => IdentityAuthorization.ForRestoredSession(_security, session.Identity, session.ClientId));
        _connectionServices = BuildConnectionServices(options, loggerFactory.CreateLogger("Starling.Broker.Connection"), wills);
        try
        {
            _storage.Recover(_retained, _sessions, _index);
        }
        catch
        {
            _storage.StopAsync().GetAwaiter().GetResult();
            throw;
        }
        _sessions.SampleQueueDepth();
        _heartbeat = new Heartbeat(_connections, _sessions, _time, _log, TimeSpan.FromMilliseconds(500), QueueDepthInterval);
        _startTimestamp = _time.GetTimestamp();
    }

    private ConnectionServices BuildConnectionServices(BrokerOptions options, ILogger log, WillPublisher wills)
    {
        var authenticator = new ClientAuthenticator(_security, options.AllowAnonymous);
        var admission = new ClientAdmission(options, _time, _counters, log, _connections, _sessions, _security, _storage);
        var enhancedAuth = new EnhancedAuthHandler(_security, authenticator, admission, log);
        return new ConnectionServices(options, _time, _counters, log, _connections, _security,
            new SessionRelease(_sessions, wills, _counters, _time),
            new ConnectHandler(options, _connections, _sessions, authenticator, enhancedAuth, admission),
            enhancedAuth,
            new PublishHandler(options, _time, _counters, _security, _storage, _retained, _router, _messagePool),
            new SubscribeHandler(options, _time, _counters, _security, _limitLog, _index, _retained, _storage),
            new PacketSizeGuard(_counters, log, _time),
            _limitLog);
    }

    public BrokerOptions Options { get; }

    /// <summary>Event counters since start.</summary>
    public BrokerCounters Counters => _counters;

    /// <summary>The store side (tests: the writer's queue).</summary>
    internal BrokerStorage StorageState => _storage;

    /// <summary>Connections that completed CONNECT.</summary>
    public int ConnectedClients => _connections.ConnectedCount;

    /// <summary>Sessions known (connected and offline persistent ones).</summary>
    public int SessionCount => _sessions.Count;

    /// <summary>Subscriptions in the index.</summary>
    public int SubscriptionCount => _index.Count;

    /// <summary>How often the Heartbeat samples <see cref="GetQueueDepth"/>: the most its value can lag behind (plus one 500 ms tick).</summary>
    public static readonly TimeSpan QueueDepthInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Queued and inflight messages of all sessions as last sampled by the Heartbeat (at most
    /// <see cref="QueueDepthInterval"/> old): costs nothing per call, whatever the number of sessions.
    /// </summary>
    public QueueDepth GetQueueDepth() => _sessions.QueueDepth;

    /// <summary>Retained messages held.</summary>
    public int RetainedCount => _retained.Count;

    /// <summary>The session registry, for tests that look inside a session.</summary>
    internal SessionRegistry Sessions => _sessions;

    /// <summary>
    /// A transport whose connection has ended keeps its socket open a while longer (a lingering close, so the peer
    /// reads the last packets): it still holds a descriptor, so Limits:MaxOpenConnections counts it until
    /// <see cref="TransportClosed"/>.
    /// </summary>
    public void TransportLingering() => _connections.TransportLingering();

    /// <summary>The lingering socket announced by <see cref="TransportLingering"/> is closed.</summary>
    public void TransportClosed() => _connections.TransportClosed();

    /// <summary>Serves one connection until it closes; never throws for client or I/O faults.</summary>
    public Task RunConnectionAsync(IDuplexPipe transport, ConnectionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(info);
        var connection = new MqttConnection(_connectionServices, transport, info);
        // Counted before it runs, so StopAsync never misses a connection that is starting.
        _connections.ConnectionStarted();
        return connection.RunAsync(cancellationToken);
    }

    /// <summary>
    /// Re-checks the credentials of every connected client after the authentication data changed (a password file
    /// reload): a client its authenticator no longer accepts is disconnected by the next Heartbeat tick (v5: DISCONNECT
    /// 0x87), without its will. Returns how many were revoked. ACL changes need nothing here: permissions are asked per
    /// action and follow the reloaded file.
    /// </summary>
    public int RecheckCredentials()
    {
        var revoked = 0;
        foreach (var connection in _connections)
        {
            if (connection.State.Credentials is { Revoked: false } credentials && !credentials.IsStillValid())
            {
                credentials.Revoke();
                revoked++;
            }
        }
        if (revoked > 0)
        {
            _heartbeat.Tick();
        }
        return revoked;
    }

    /// <summary>Runs the Heartbeat once now (tests with a fake TimeProvider call it after advancing time).</summary>
    public void Tick() => _heartbeat.Tick();

    /// <summary>Graceful shutdown: refuse new connections, send DISCONNECT 0x8B to v5 clients, close all connections.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _connections.Stopping = true;
        foreach (var connection in _connections)
        {
            connection.Abort(ReasonCode.ServerShuttingDown, "server shutting down");
        }
        try
        {
            // Real time on purpose (waiting for sockets, not MQTT time): a test's fake clock must not make a stop hang.
            await _connections.WhenAllConnectionsEnded().WaitAsync(TimeSpan.FromSeconds(10), TimeProvider.System, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            BrokerLog.ConnectionsDidNotClose(_log, _connections.RunningConnections);
        }
        _heartbeat.Dispose();
        // Last: the sessions' final state changes (detach times) are written before the store closes.
        await _storage.StopAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>Refusals by cause since start (authentication, authorization, limits).</summary>
    public SecurityCounters SecurityCounters => _security.Counters;

    /// <summary>Connections that have not completed CONNECT yet.</summary>
    public int PendingConnections => _security.PendingConnections;

    /// <summary>All sessions, connected or not.</summary>
    public IReadOnlyList<SessionSnapshot> GetSessions() => [.. _sessions.All.Select(Snapshot)];

    /// <summary>One session, or null.</summary>
    public SessionSnapshot? GetSession(string clientId)
        => _sessions.Find(clientId) is { IsEnded: false } s ? Snapshot(s) : null;

    /// <summary>The subscriptions of one session (empty when unknown).</summary>
    public IReadOnlyList<SubscriptionSnapshot> GetSubscriptions(string clientId)
        => _sessions.Find(clientId) is { } s
            ? [.. s.Subscriptions.Select(x => new SubscriptionSnapshot(x.Filter, x.Options.QoS, x.Options.NoLocal, x.Options.RetainAsPublished,
                x.Options.RetainHandling, x.SubscriptionId, x.ShareName))]
            : [];

    /// <summary>Disconnects a client (v5 clients get DISCONNECT 0x98 Administrative action); its session stays by its own rules.</summary>
    public bool DisconnectClient(string clientId)
    {
        if (_sessions.Find(clientId)?.Owner is not MqttConnection connection)
        {
            return false;
        }
        connection.Abort(ReasonCode.AdministrativeAction, "disconnected by an administrator");
        return true;
    }

    /// <summary>Disconnects the client if connected and discards its session (subscriptions, queued messages).</summary>
    public bool DeleteSession(string clientId)
    {
        if (_sessions.Find(clientId) is not { } session)
        {
            return false;
        }
        (session.Owner as MqttConnection)?.Abort(ReasonCode.AdministrativeAction, "session deleted by an administrator");
        _sessions.Discard(session);
        return true;
    }

    /// <summary>Retained messages, optionally only those matching a topic filter.</summary>
    public IReadOnlyList<RetainedMessageSnapshot> GetRetainedMessages(string? filter = null)
        => [.. (filter is null ? _retained.All : _retained.Matching(filter))
            .Select(m => new RetainedMessageSnapshot(m.Topic, m.Payload, m.QoS, _startedAt + _time.GetElapsedTime(_startTimestamp, m.CreatedTimestamp)))];

    /// <summary>Deletes the retained message of a topic.</summary>
    public bool DeleteRetainedMessage(string topic) => _retained.Remove(topic);

    /// <summary>
    /// Publishes a message from the broker itself (management API, $SYS). Topic names starting with '$' are allowed
    /// here. Returns the number of sessions it was handed to.
    /// </summary>
    public int Publish(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos = QualityOfService.AtMostOnce, bool retain = false, MqttProperties? properties = null)
    {
        if (!TopicValidator.IsValidTopicName(topic))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic name", nameof(topic));
        }
        var message = new Message(topic, payload.ToArray(), qos, retain, properties, null, _time.GetTimestamp());
        if (retain)
        {
            _retained.TrySet(message, out _);
        }
        return _router.Route(message).Delivered;
    }

    /// <summary>Messages dropped since start by reason label (<see cref="DropReasons.Label"/>; every reason, zeros included).</summary>
    public IReadOnlyDictionary<string, long> GetDropCounts() => DropReasons.Read(_counters);

    /// <summary>Topic plus payload bytes of the retained messages held (Limits:MaxRetainedBytes).</summary>
    public long RetainedBytes => _retained.Bytes;

    /// <summary>Broker-wide figures.</summary>
    public BrokerStats GetStats()
    {
        var c = _counters;
        return new BrokerStats(_startedAt, _connections.ConnectedCount, _sessions.Count, _index.Count, _retained.Count,
            Interlocked.Read(ref c.ConnectionsAccepted), Interlocked.Read(ref c.ConnectionsRefused), Interlocked.Read(ref c.MessagesReceived),
            Interlocked.Read(ref c.MessagesDelivered),
            DropReasons.Read(c).Values.Sum(),
            Interlocked.Read(ref c.BytesReceived), Interlocked.Read(ref c.BytesSent));
    }

    private SessionSnapshot Snapshot(Session s)
    {
        var connection = s.Owner as MqttConnection;
        return new SessionSnapshot(s.ClientId, connection is not null, connection?.Info.RemoteEndPoint?.ToString(), connection?.Info.ListenerName,
            connection?.Version ?? ProtocolVersion.Unknown, connection?.Username, connection?.KeepAliveSeconds ?? 0, s.ExpiryInterval,
            connection?.ConnectedAt, s.Subscriptions.Length, s.InflightCount, s.QueuedCount, s.Drops);
    }
}
