using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>The parts of the broker that connections and sessions share; one per <see cref="MqttBroker"/>.</summary>
internal sealed class BrokerContext
{
    public BrokerContext(BrokerOptions options, ILoggerFactory loggerFactory, TimeProvider time, Storage.IStore? store = null)
    {
        Options = options;
        Time = time;
        ConnectionLogger = loggerFactory.CreateLogger("Starling.Broker.Connection");
        BrokerLogger = loggerFactory.CreateLogger("Starling.Broker");
        Storage = new Storage.BrokerStorage(store, time, BrokerLogger);
        Retained = new RetainedStore(Storage);
        Sessions = new SessionRegistry(options, Counters, time, Storage, Index, PublishWill);
        Router = new Router(Index, Counters);
        Security = new Starling.Broker.Security.SecurityRuntime(options, loggerFactory, time);
    }

    public BrokerOptions Options { get; }
    public TimeProvider Time { get; }
    public ILogger ConnectionLogger { get; }
    public ILogger BrokerLogger { get; }
    public BrokerCounters Counters { get; } = new();
    public TopicIndex Index { get; } = new();
    public RetainedStore Retained { get; }

    /// <summary>Durability: the store's writer, or a no-op when the broker runs without a store.</summary>
    public Storage.BrokerStorage Storage { get; }
    public SessionRegistry Sessions { get; }
    public Router Router { get; }
    public Starling.Broker.Security.SecurityRuntime Security { get; }

    /// <summary>Every open connection, connected or still before CONNECT; the Heartbeat walks it.</summary>
    public ConnectionRegistry Connections { get; } = new();

    /// <summary>Connections that completed CONNECT and are attached to a session.</summary>
    public int ConnectedCount => Volatile.Read(ref _connectedCount);

    private int _connectedCount;

    public void OnConnected() => Interlocked.Increment(ref _connectedCount);

    public void OnDisconnected() => Interlocked.Decrement(ref _connectedCount);

    // Connections whose RunAsync has started and not finished; StopAsync waits for it to reach 0. A counter instead of
    // a set of tasks: nothing per connection (an idle connection's memory is what finding 2 of docs/performance.md is about).
    private int _runningConnections;
    private TaskCompletionSource? _allEnded;

    public int RunningConnections => Volatile.Read(ref _runningConnections);

    public void ConnectionStarted() => Interlocked.Increment(ref _runningConnections);

    // Sockets of ended connections still open for a lingering close (MqttBroker.TransportLingering).
    private int _lingeringTransports;

    /// <summary>Descriptors held by transports: running connections and sockets still lingering after theirs ended.</summary>
    public int OpenTransports => RunningConnections + Volatile.Read(ref _lingeringTransports);

    public void TransportLingering() => Interlocked.Increment(ref _lingeringTransports);

    public void TransportClosed() => Interlocked.Decrement(ref _lingeringTransports);

    public void ConnectionEnded()
    {
        if (Interlocked.Decrement(ref _runningConnections) == 0)
        {
            Volatile.Read(ref _allEnded)?.TrySetResult();
        }
    }

    /// <summary>Completes when no connection runs (the last one to end completes it); for StopAsync.</summary>
    public Task WhenAllConnectionsEnded()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _allEnded, ended);
        // A connection that ended before the write above did not see it: check the count after publishing.
        if (RunningConnections == 0)
        {
            ended.TrySetResult();
        }
        return ended.Task;
    }

    /// <summary>Publishes a will (stored too when it is retained).</summary>
    public void PublishWill(Protocol.WillMessage will, string clientId)
    {
        var properties = will.Properties;
        if (properties is not null)
        {
            // Will properties that describe the message travel with it; the delay itself does not.
            properties = properties.Clone();
            properties.WillDelayInterval = null;
        }
        var message = new Message(will.Topic, will.Payload, will.QoS, will.Retain, properties, clientId, Time.GetTimestamp());
        if (will.Retain && Options.RetainAvailable)
        {
            Retained.Set(message);
        }
        Router.Route(message);
    }

    /// <summary>Set by StopAsync: new connections are refused.</summary>
    public volatile bool Stopping;
}
