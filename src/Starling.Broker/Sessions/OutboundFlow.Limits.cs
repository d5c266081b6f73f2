namespace Starling.Broker;

/// <summary>
/// Drop accounting and the queue-full policy of <see cref="OutboundFlow"/> (issue 16, findings 3 and 20). Every
/// message the flow drops is counted by reason, broker-wide (<see cref="BrokerCounters"/>) and for this session (an
/// array allocated on the first drop, so a session that never drops pays one null field).
/// </summary>
internal sealed partial class OutboundFlow
{
    private readonly string _clientId;
    private long[]? _drops;

    /// <summary>Counts one dropped message for this session and broker-wide. Lock-free; any thread.</summary>
    public void CountDrop(DropReason reason, int count = 1)
    {
        Interlocked.Add(ref DropReasons.Counter(Counters, reason), count);
        var drops = Volatile.Read(ref _drops)
            ?? Interlocked.CompareExchange(ref _drops, new long[DropReasons.All.Count], null)
            ?? _drops!;
        Interlocked.Add(ref drops[(int)reason], count);
    }

    /// <summary>This session's drops by reason label (only reasons with a count).</summary>
    public IReadOnlyDictionary<string, long> Drops
    {
        get
        {
            var result = new Dictionary<string, long>(StringComparer.Ordinal);
            if (Volatile.Read(ref _drops) is { } drops)
            {
                for (var i = 0; i < drops.Length; i++)
                {
                    if (Interlocked.Read(ref drops[i]) is var n and > 0)
                    {
                        result[DropReasons.Label((DropReason)i)] = n;
                    }
                }
            }
            return result;
        }
    }

    /// <summary>
    /// Whether a queue holding <paramref name="count"/> messages and <paramref name="bytes"/> bytes has room for one
    /// more of <paramref name="size"/> bytes (Limits:MaxQueuedMessages, plus <paramref name="extraRoom"/>, and
    /// Limits:MaxQueuedBytes).
    /// </summary>
    private bool HasRoom(long count, long bytes, long size, int extraRoom)
        => count < (long)Options.MaxQueuedMessages + extraRoom && (Options.MaxQueuedBytes <= 0 || bytes + size <= Options.MaxQueuedBytes);

    /// <summary>
    /// Limits:QueueFullPolicy DropOldest: drops the oldest queued delivery held in memory to make room; false when there
    /// is none (a durable offline session's queue lives in the store: then the new message is dropped instead).
    /// Caller holds the monitor.
    /// </summary>
    private bool TryDropOldest()
    {
        if (Options.QueueFullPolicy != QueueFullPolicy.DropOldest || _queue is not { Count: > 0 } queue)
        {
            return false;
        }
        var oldest = queue.Dequeue();
        _queuedBytes -= oldest.Message.AccountedSize;
        Completed(oldest);
        // The queue entry's reference ends here, as in Drain (a no-op for messages the store pinned).
        oldest.Message.Release();
        QueueFull();
        return true;
    }

    /// <summary>One message lost to a full queue: counted for the session and broker-wide, logged (rate-limited).</summary>
    private void QueueFull()
    {
        CountDrop(DropReason.QueueFull);
        _services.Limits?.Write(LimitCause.QueueFull, _clientId);
    }

    /// <summary>The session ended holding these messages (queued, in flight and not yet delivered, paged in the store).</summary>
    private void CountEndedLosses()
    {
        var lost = (_queue?.Count ?? 0) + (_offlineQoS0?.Count ?? 0) + PagedCount;
        foreach (var (_, d) in _inflight ?? s_noInflight)
        {
            // A QoS 2 message awaiting PUBCOMP has reached the client: not a loss.
            lost += d.State == DeliveryState.AwaitingPubComp ? 0 : 1;
        }
        if (lost > 0)
        {
            CountDrop(DropReason.SessionEnded, (int)Math.Min(int.MaxValue, lost));
        }
    }
}
