using Starling.Broker.Storage;

namespace Starling.Broker;

/// <summary>
/// The outcome of <see cref="Router.Route"/>: how many sessions got the message, the first congested-but-moving
/// subscriber met (the publisher's read loop waits for it after this packet), and the commit ticket the PUBACK/PUBREC
/// must wait for. A struct returned by value: routing allocates nothing.
/// </summary>
internal readonly struct RouteResult(int delivered, IDeliverySink? congested, CommitTicket ticket, int full = 0)
{
    /// <summary>Sessions the message was handed to (0: v5 PUBACK says No matching subscribers).</summary>
    public int Delivered { get; } = delivered;

    /// <summary>A subscriber whose QoS 0 lane is past half its limit while it still drains; null when none.</summary>
    public IDeliverySink? Congested { get; } = congested;

    /// <summary>The latest store operation routing queued (durable subscribers); default when none.</summary>
    public CommitTicket Ticket { get; } = ticket;

    /// <summary>
    /// Sessions among <see cref="Delivered"/> that dropped the message because their queue was full (Limits:QueueFullPolicy
    /// RejectPublish answers a v5 publisher 0x97 when this equals Delivered).
    /// </summary>
    public int Full { get; } = full;
}
