namespace Starling.Broker.Storage;

/// <summary>
/// Bounds of the store writer's queue (issue 16, finding 3): operations queued and not yet committed, counted and
/// estimated in bytes (<see cref="StoreWriter.EstimatedSize"/>). Past either, a publisher that queued store work stops
/// reading from its connection until the queue is below half of both (back-pressure, as for a congested subscriber).
/// The queue can overshoot by what the publishers' current packets queue before they stop (one PUBLISH each, times the
/// durable sessions it reaches).
/// </summary>
/// <param name="MaxQueuedOperations">BrokerOptions.StoreMaxQueuedOperations.</param>
/// <param name="MaxQueuedBytes">BrokerOptions.StoreMaxQueuedBytes.</param>
internal readonly record struct StoreLimits(long MaxQueuedOperations, long MaxQueuedBytes)
{
    /// <summary>The defaults of <see cref="BrokerOptions"/>.</summary>
    public static StoreLimits Default { get; } = From(new BrokerOptions());

    public static StoreLimits From(BrokerOptions options) => new(options.StoreMaxQueuedOperations, options.StoreMaxQueuedBytes);
}

/// <summary>
/// A store with a size limit (the SQLite store's Storage:MaxDatabaseSize). The broker's writer reads both after each
/// commit, on its own thread, and refuses messages that would have to be stored once the store is nearly full.
/// </summary>
public interface ISizedStore
{
    /// <summary>The limit in bytes; 0 = none.</summary>
    long MaxSizeBytes { get; }

    /// <summary>Bytes in use now (free pages inside the file not counted). Called by the writer thread only.</summary>
    long SizeBytes { get; }
}
