namespace Starling.Broker.Storage;

/// <summary>
/// Says that a call queued store operations an acknowledgement depends on: returned by every call that queues them and
/// carried back to the publish handler (Session.Deliver -> Router.Route -> handler -> <see cref="BrokerStorage.Acknowledge"/>),
/// instead of the thread-static "this thread queued something" mark it replaces. <c>default</c> means nothing was
/// queued: the acknowledgement may leave at once (the only case without a store).
/// Invariant the waiting relies on: the acknowledgement's commit callback is queued by the same thread, after the
/// operations (the writer's queue keeps each producer's order, and a batch's callbacks run after its commit). The
/// number is NOT a position in the queue across threads (it is taken before the enqueue), so it must never be
/// compared with "committed so far" to skip the wait.
/// </summary>
internal readonly struct CommitTicket(long sequence)
{
    /// <summary>A number (1, 2, ...) given by <see cref="StoreWriter"/> to the operation; 0 for none. Increasing per thread.</summary>
    public long Sequence { get; } = sequence;

    /// <summary>Whether an acknowledgement holding this ticket must wait for a commit.</summary>
    public bool IsPending => Sequence != 0;

    /// <summary>The later of two tickets of one thread: waiting for it covers both (that thread's operations commit in order).</summary>
    public static CommitTicket Latest(CommitTicket a, CommitTicket b) => a.Sequence >= b.Sequence ? a : b;
}
