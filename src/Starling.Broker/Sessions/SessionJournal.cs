using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The store side of one <em>durable</em> session (a store is configured and the session's expiry interval was above
/// 0): turns the session's and its outbound flow's state changes into <see cref="StoreOperation"/>s for the store's
/// single writer (never waiting for it), and keeps the part of the queue that lives only in the store (paging).
/// In-memory sessions have no journal (null): their path costs one null check.
/// <para>
/// Paging: a durable session's queue is the flow's in-memory queue followed by <see cref="PagedCount"/> deliveries that
/// are only in the store, all with higher sequence numbers; <c>_pageCursor</c> is the highest sequence number below all
/// of them (the store is asked for queued deliveries above it). A page read is tagged with a generation, bumped whenever
/// an outstanding read becomes stale (the queue spilled back to the store, the session ended).
/// </para>
/// Concurrency: the operation methods only queue into the lock-free writer queue and may be called under either the
/// session's or the flow's monitor; the paging fields are guarded by the owning <see cref="OutboundFlow"/>'s monitor.
/// </summary>
internal sealed class SessionJournal(BrokerStorage storage, string clientId)
{
    private long _pagedCount;
    private long _pagedBytes;
    private long _pageCursor;
    private bool _pageLoading;
    private int _pagedSinceRequest;
    private int _generation;

    // ---- session state (called under the session's monitor) ----

    public void UpsertSession(StoredSession stored) => storage.Enqueue(StoreOperation.UpsertSession(stored));

    public void DeleteSession() => storage.Enqueue(StoreOperation.DeleteSession(clientId));

    public void AddSubscription(Subscription subscription)
    {
        var o = subscription.Options;
        storage.Enqueue(StoreOperation.AddSubscription(new StoredSubscription(clientId, subscription.Filter, o.QoS, o.NoLocal,
            o.RetainAsPublished, o.RetainHandling, subscription.SubscriptionId)));
    }

    public void RemoveSubscription(string filter) => storage.Enqueue(StoreOperation.RemoveSubscription(clientId, filter));

    public void SetWill(WillMessage will, uint delaySeconds)
        => storage.Enqueue(StoreOperation.SetWill(clientId, new StoredWill(will.Topic, will.Payload, will.QoS, will.Retain,
            StoredProperties.Encode(will.Properties), storage.NowMs + delaySeconds * 1000L)));

    public void ClearWill() => storage.Enqueue(StoreOperation.ClearWill(clientId));

    public CommitTicket AddInboundQoS2(ushort packetId) => storage.Enqueue(StoreOperation.AddInboundQoS2(clientId, packetId));

    public CommitTicket RemoveInboundQoS2(ushort packetId) => storage.Enqueue(StoreOperation.RemoveInboundQoS2(clientId, packetId));

    // ---- deliveries (called under the flow's monitor) ----

    public CommitTicket AddDelivery(in Delivery d)
        => storage.Enqueue(StoreOperation.AddDelivery(new StoredDelivery(clientId, d.Sequence, storage.ToStored(d.Message),
            d.QoS, d.Retain, d.SubscriptionIds, 0, StoredDeliveryState.Queued)));

    public CommitTicket UpdateDelivery(long sequence, ushort packetId, DeliveryState state)
        => storage.Enqueue(StoreOperation.UpdateDelivery(clientId, sequence, packetId, (StoredDeliveryState)state));

    public void RemoveDelivery(long sequence) => storage.Enqueue(StoreOperation.RemoveDelivery(clientId, sequence));

    /// <summary>Runs <paramref name="callback"/> on the writer thread once everything queued so far is committed.</summary>
    public void AfterCommit(ICommitCallback callback) => storage.AfterCommit(callback);

    // ---- paging (caller holds the flow's monitor) ----

    /// <summary>Queued deliveries that are only in the store.</summary>
    public long PagedCount => _pagedCount;

    /// <summary>Payload bytes of <see cref="PagedCount"/>.</summary>
    public long PagedBytes => _pagedBytes;

    /// <summary>A new delivery stays in the store only (the in-memory queue is full, or the session is offline).</summary>
    public void AddPaged(long sequence, long size)
    {
        if (_pagedCount == 0)
        {
            _pageCursor = sequence - 1;
        }
        _pagedCount++;
        _pagedBytes += size;
        _pagedSinceRequest++;
    }

    /// <summary>The in-memory queue (first sequence <paramref name="firstSequence"/>) was dropped: it is in the store.</summary>
    public void Spill(long firstSequence, int count, long bytes)
    {
        _pageCursor = firstSequence - 1;
        _pagedCount += count;
        _pagedBytes += bytes;
        _generation++;
        _pageLoading = false;
    }

    /// <summary>Asks the writer for the next page when the in-memory queue ran low and no read is outstanding.</summary>
    public void MaybeRequestPage(OutboundFlow flow, int inMemory)
    {
        if (_pagedCount > 0 && !_pageLoading && inMemory < BrokerStorage.PageLowWater)
        {
            _pageLoading = true;
            _pagedSinceRequest = 0;
            storage.RequestPage(flow, clientId, _pageCursor, BrokerStorage.PageSize - inMemory, _generation);
        }
    }

    /// <summary>A page arrived: false when it is stale (the generation moved on) and must be ignored.</summary>
    public bool AcceptPage(int generation)
    {
        if (generation != _generation)
        {
            return false;
        }
        _pageLoading = false;
        return true;
    }

    /// <summary>One delivery of an accepted page: true when it is new (above the cursor) and moves to memory.</summary>
    public bool TakeFromPage(in Delivery d)
    {
        if (d.Sequence <= _pageCursor)
        {
            return false;
        }
        _pageCursor = d.Sequence;
        _pagedCount--;
        _pagedBytes -= d.Message.AccountedSize;
        return true;
    }

    /// <summary>After a page: a short page with nothing added since the read means the counters are exact again (0).</summary>
    public void EndPage(int received, int requested)
    {
        if (_pagedCount < 0 || (received < requested && _pagedSinceRequest == 0))
        {
            _pagedCount = 0;
            _pagedBytes = 0;
        }
    }

    /// <summary>Recovery: the store's per-session summary of queued deliveries.</summary>
    public void RestorePaged(long count, long bytes)
    {
        _pagedCount = count;
        _pagedBytes = bytes;
        _pageCursor = 0;
    }

    /// <summary>The session ended: nothing is paged any more and an outstanding read is stale.</summary>
    public void Clear()
    {
        _pagedCount = 0;
        _pagedBytes = 0;
        _generation++;
    }
}
