namespace Starling.Broker.Storage;

/// <summary>
/// The durable side of the broker: sessions with their subscriptions, expiry and delayed will; per-session queued and
/// inflight QoS 1/2 deliveries; inbound QoS 2 packet ids awaiting PUBREL; retained messages. Messages are stored once
/// and referenced by deliveries and retained topics.
/// <para>
/// Threading: the broker calls a store from one thread at a time: <see cref="Load"/> once at start-up, then
/// <see cref="Apply"/> and <see cref="LoadQueued"/> from its single writer thread. Implementations need no locking.
/// </para>
/// <para>
/// Errors: every method throws <see cref="StoreException"/> with a message that names the file (or server) and what
/// the operator can do; a store never drops data silently.
/// </para>
/// </summary>
public interface IStore : IDisposable
{
    /// <summary>What and where the store is, for logs: "SQLite database /var/lib/starling/starling.db".</summary>
    string Description { get; }

    /// <summary>Everything needed to restore the broker; queued deliveries are summarized per session, not loaded.</summary>
    StoreContents Load();

    /// <summary>
    /// Up to <paramref name="limit"/> queued (not yet sent) deliveries of a session with a sequence above
    /// <paramref name="afterSequence"/>, in sequence order, each with its message.
    /// </summary>
    IReadOnlyList<StoredDelivery> LoadQueued(string clientId, long afterSequence, int limit);

    /// <summary>
    /// Applies <paramref name="operations"/> in order in one transaction: all or none. When it returns, they are
    /// durable (the broker sends the acknowledgements that waited for them). Messages no longer referenced by any
    /// delivery or retained topic after the batch are deleted. When the batch does not fit (size limit reached, disk
    /// full) it throws a <see cref="StoreException"/> with <see cref="StoreException.IsOutOfSpace"/> set and nothing
    /// of the batch is applied: the writer then splits it (StoreWriter) instead of retrying it for ever.
    /// </summary>
    void Apply(IReadOnlyList<StoreOperation> operations);

    /// <summary>Row counts, for tests, logs and the management surface (may scan; not for hot paths).</summary>
    StoreStatistics GetStatistics();
}

/// <summary>What a store holds.</summary>
public readonly record struct StoreStatistics(long Sessions, long Subscriptions, long Messages, long Deliveries, long InboundQoS2, long Retained);

/// <summary>A store failed in a way the operator has to look at (damaged file, full disk, no permission).</summary>
public sealed class StoreException : Exception
{
    public StoreException() : this("The message store failed.") { }

    public StoreException(string message) : base(message) { }

    public StoreException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>
    /// The write failed because the store has no room (its size limit, or a full disk), not because of a transient
    /// fault: retrying the same batch cannot succeed until something is deleted, so the writer does not.
    /// </summary>
    public bool IsOutOfSpace { get; init; }
}
