using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The broker: one instance per process, built before any listener binds. Transports hand it one duplex pipe per
/// connection; everything MQTT happens here.
/// </summary>
public sealed partial class MqttBroker : IAsyncDisposable
{
    private readonly BrokerContext _context;
    private readonly Heartbeat _heartbeat;
    private readonly long _startTimestamp;

    /// <summary>
    /// Builds the broker. With a <paramref name="store"/>, its state (sessions, subscriptions, queued and inflight
    /// messages, retained messages, delayed wills) is restored before this returns, so no connection can see a
    /// half-restored broker, and every later change is written to it (docs/architecture.md, "Storage").
    /// </summary>
    /// <exception cref="Storage.StoreException">The store cannot be read; the message says which file and what to do.</exception>
    public MqttBroker(BrokerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, Storage.IStore? store = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _context = new BrokerContext(options, loggerFactory ?? NullLoggerFactory.Instance, timeProvider ?? TimeProvider.System, store);
        try
        {
            _context.Storage.Recover(_context.Retained, _context.Sessions, _context.Index);
        }
        catch
        {
            _context.Storage.StopAsync().GetAwaiter().GetResult();
            throw;
        }
        _heartbeat = new Heartbeat(_context.Time, _context.Connections, _context.Sessions, _context.BrokerLogger, TimeSpan.FromMilliseconds(500));
        _startTimestamp = _context.Time.GetTimestamp();
    }

    public BrokerOptions Options { get; }

    /// <summary>Event counters since start.</summary>
    public BrokerCounters Counters => _context.Counters;

    /// <summary>Connections that completed CONNECT.</summary>
    public int ConnectedClients => _context.ConnectedCount;

    /// <summary>Sessions known (connected and offline persistent ones).</summary>
    public int SessionCount => _context.Sessions.Count;

    /// <summary>Subscriptions in the index.</summary>
    public int SubscriptionCount => _context.Index.Count;

    /// <summary>Retained messages held.</summary>
    public int RetainedCount => _context.Retained.Count;

    internal BrokerContext Context => _context;

    /// <summary>
    /// A transport whose connection has ended keeps its socket open a while longer (a lingering close, so the peer
    /// reads the last packets): it still holds a descriptor, so Limits:MaxOpenConnections counts it until
    /// <see cref="TransportClosed"/>.
    /// </summary>
    public void TransportLingering() => _context.TransportLingering();

    /// <summary>The lingering socket announced by <see cref="TransportLingering"/> is closed.</summary>
    public void TransportClosed() => _context.TransportClosed();

    /// <summary>Serves one connection until it closes; never throws for client or I/O faults.</summary>
    public Task RunConnectionAsync(IDuplexPipe transport, ConnectionInfo info, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(info);
        var connection = new MqttConnection(_context, transport, info);
        // Counted before it runs, so StopAsync never misses a connection that is starting.
        _context.ConnectionStarted();
        return connection.RunAsync(cancellationToken);
    }

    /// <summary>Runs the Heartbeat once now (tests with a fake TimeProvider call it after advancing time).</summary>
    public void Tick() => _heartbeat.Tick();

    /// <summary>Graceful shutdown: refuse new connections, send DISCONNECT 0x8B to v5 clients, close all connections.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _context.Stopping = true;
        foreach (var connection in _context.Connections)
        {
            connection.Abort(ReasonCode.ServerShuttingDown, "server shutting down");
        }
        try
        {
            await _context.WhenAllConnectionsEnded().WaitAsync(TimeSpan.FromSeconds(10), _context.Time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _context.BrokerLogger.LogWarning("{Count} connections did not close within 10 s of shutdown", _context.RunningConnections);
        }
        _heartbeat.Dispose();
        // Last: the sessions' final state changes (detach times) are written before the store closes.
        await _context.Storage.StopAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);
}
