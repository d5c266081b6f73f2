using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>
/// What sessions, the router and storage still reach through one object (one per <see cref="MqttBroker"/>). Connections,
/// security and the broker's own surface take their dependencies in their constructors; the session part of issue 15
/// does the same for Sessions/, Router and Storage/, and then this class goes.
/// </summary>
internal sealed class BrokerContext
{
    public BrokerContext(BrokerOptions options, ILoggerFactory loggerFactory, TimeProvider time, Storage.IStore? store = null)
    {
        Options = options;
        Time = time;
        BrokerLogger = loggerFactory.CreateLogger("Starling.Broker");
        Storage = new Storage.BrokerStorage(this, store);
        Retained = new RetainedStore(Storage);
        Sessions = new SessionRegistry(this);
        Router = new Router(this);
        Wills = new WillPublisher(options, time, Retained, Router);
    }

    public BrokerOptions Options { get; }
    public TimeProvider Time { get; }
    public ILogger BrokerLogger { get; }
    public BrokerCounters Counters { get; } = new();
    public TopicIndex Index { get; } = new();
    public RetainedStore Retained { get; }

    /// <summary>Durability: the store's writer, or a no-op when the broker runs without a store.</summary>
    public Storage.BrokerStorage Storage { get; }
    public SessionRegistry Sessions { get; }
    public Router Router { get; }
    public WillPublisher Wills { get; }

    /// <summary>Publishes a will (stored too when it is retained).</summary>
    public void PublishWill(Protocol.WillMessage will, string clientId) => Wills.Publish(will, clientId);
}
