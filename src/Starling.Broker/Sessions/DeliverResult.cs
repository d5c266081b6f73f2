using Starling.Broker.Storage;

namespace Starling.Broker;

/// <summary>
/// What handing one message to one session produced, returned (not left in a thread-static) so the publisher's read
/// loop can act on it: the subscriber whose data lane is congested but still draining (the publisher waits for it,
/// docs/architecture.md "Back-pressure toward publishers"), and the store operations the acknowledgement must wait for.
/// </summary>
internal readonly struct DeliverResult(IDeliverySink? congested, CommitTicket ticket, bool queueFull = false)
{
    /// <summary>The subscriber's sink when a QoS 0 PUBLISH found its lane congested but moving; else null.</summary>
    public IDeliverySink? Congested { get; } = congested;

    /// <summary>The last store operation this delivery queued (durable sessions only; default otherwise).</summary>
    public CommitTicket Ticket { get; } = ticket;

    /// <summary>The session's queue was full and the new message was dropped (Limits:QueueFullPolicy DropNewest / RejectPublish).</summary>
    public bool QueueFull { get; } = queueFull;

    /// <summary>The result of a delivery the full queue refused.</summary>
    public static DeliverResult Full => new(null, default, queueFull: true);
}
