namespace Starling.Broker;

/// <summary>
/// Why the broker dropped a message for one receiver (issue 16, finding 20). Counted broker-wide in
/// <see cref="BrokerCounters"/> and per session (<see cref="SessionSnapshot.Dropped"/>); exported by /metrics as
/// <c>starling_messages_dropped_total{reason=...}</c> with <see cref="DropReasons.Label"/>.
/// </summary>
public enum DropReason
{
    /// <summary>The session's queue was at Limits:MaxQueuedMessages or Limits:MaxQueuedBytes (see <see cref="QueueFullPolicy"/>).</summary>
    QueueFull,

    /// <summary>A QoS 0 message found the connection's outbound lane full (a client that does not keep up).</summary>
    QoS0Backlog,

    /// <summary>Larger than the client's Maximum Packet Size [MQTT-3.1.2-25].</summary>
    TooLarge,

    /// <summary>Its Message Expiry Interval passed while it was queued [MQTT-3.3.2-5].</summary>
    Expired,

    /// <summary>The receiver may not read the topic (checked at routing, again when a queued message leaves).</summary>
    NotAuthorized,

    /// <summary>A departed shared-subscription member's message found no other member to take it.</summary>
    NoGroupMember,

    /// <summary>A QoS 0 message queued for an offline session expired before the client came back.</summary>
    OfflineQoS0Expired,

    /// <summary>Handed to, or still held by, a session that ended (clean session closed, expired, discarded).</summary>
    SessionEnded,
}

/// <summary>Names and counting of <see cref="DropReason"/>.</summary>
public static class DropReasons
{
    /// <summary>Every reason, in enum order.</summary>
    public static IReadOnlyList<DropReason> All { get; } = Enum.GetValues<DropReason>();

    /// <summary>The metric label / API key of a reason (snake case, stable).</summary>
    public static string Label(DropReason reason) => reason switch
    {
        DropReason.QueueFull => "queue_full",
        DropReason.QoS0Backlog => "qos0_backlog",
        DropReason.TooLarge => "too_large",
        DropReason.Expired => "expired",
        DropReason.NotAuthorized => "not_authorized",
        DropReason.NoGroupMember => "no_group_member",
        DropReason.OfflineQoS0Expired => "offline_qos0_expired",
        DropReason.SessionEnded => "session_ended",
        _ => "unknown",
    };

    /// <summary>The broker-wide counter of a reason.</summary>
    public static ref long Counter(BrokerCounters counters, DropReason reason)
    {
        switch (reason)
        {
            case DropReason.QueueFull: return ref counters.MessagesDroppedQueueFull;
            case DropReason.QoS0Backlog: return ref counters.MessagesDroppedQoS0Backlog;
            case DropReason.TooLarge: return ref counters.MessagesDroppedTooLarge;
            case DropReason.Expired: return ref counters.MessagesExpired;
            case DropReason.NotAuthorized: return ref counters.MessagesDroppedNotAuthorized;
            case DropReason.NoGroupMember: return ref counters.MessagesDroppedNoGroupMember;
            case DropReason.OfflineQoS0Expired: return ref counters.MessagesDroppedOfflineQoS0Expired;
            default: return ref counters.MessagesDroppedSessionEnded;
        }
    }

    /// <summary>Broker-wide drops by reason label (every reason, zeros included).</summary>
    public static IReadOnlyDictionary<string, long> Read(BrokerCounters counters)
    {
        var result = new Dictionary<string, long>(All.Count, StringComparer.Ordinal);
        foreach (var reason in All)
        {
            result[Label(reason)] = Interlocked.Read(ref Counter(counters, reason));
        }
        return result;
    }
}

/// <summary>
/// What to do with a QoS 1/2 message when a receiving session's queue is full (Limits:QueueFullPolicy). The
/// publisher has usually been acknowledged already (the acknowledgement means "the server took responsibility"), so
/// every choice loses a message somebody was promised; docs/security.md says why the default is what it is.
/// </summary>
public enum QueueFullPolicy
{
    /// <summary>The new message is not queued (Mosquitto's behaviour); counted as queue_full.</summary>
    DropNewest,

    /// <summary>The oldest queued message (in memory) makes room for the new one; counted as queue_full.</summary>
    DropOldest,

    /// <summary>
    /// As DropNewest, and a v5 publisher of QoS 1/2 gets PUBACK/PUBREC 0x97 Quota exceeded when every session the
    /// message matched had a full queue (3.1.1 has no way to say it: its publishers get a normal acknowledgement).
    /// </summary>
    RejectPublish,
}
