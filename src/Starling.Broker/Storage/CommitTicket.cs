namespace Starling.Broker.Storage;

/// <summary>
/// Names the point in the store writer's queue that an acknowledgement must wait for: the sequence number of the
/// last operation a PUBLISH (or PUBREL) queued. Returned by every call that queues store operations and carried back
/// to the publish handler (Session.Deliver -> Router.Route -> handler -> <see cref="BrokerStorage.Acknowledge"/>),
/// instead of the thread-static "this thread queued something" mark it replaces. <c>default</c> means nothing was
/// queued: the acknowledgement may leave at once (the only case without a store).
/// </summary>
internal readonly struct CommitTicket(long sequence)
{
    /// <summary>Sequence number (1, 2, ...) of the operation in <see cref="StoreWriter"/>'s queue; 0 for none.</summary>
    public long Sequence { get; } = sequence;

    /// <summary>Whether an acknowledgement holding this ticket must wait for a commit.</summary>
    public bool IsPending => Sequence != 0;

    /// <summary>The later of two tickets: waiting for it covers both (the writer commits in queue order).</summary>
    public static CommitTicket Latest(CommitTicket a, CommitTicket b) => a.Sequence >= b.Sequence ? a : b;
}
