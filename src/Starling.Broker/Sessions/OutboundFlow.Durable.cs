using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The durable half of <see cref="OutboundFlow"/>: the parts that exist only with a <see cref="SessionJournal"/>
/// (docs/architecture.md, "Storage"). Every member runs under the flow's monitor unless it says otherwise.
/// </summary>
internal sealed partial class OutboundFlow
{
    // Attached, but the re-sends of unacknowledged messages wait for the store's next commit: new messages queue.
    private bool _resuming;
    // QoS 0 messages queued for an offline durable session (QueueQoS0Messages): memory only, never on disk.
    private Queue<Delivery>? _offlineQoS0;
    private long _offlineQoS0Bytes;

    /// <summary>The session became durable (first expiry interval above 0 with a store): later changes are journaled.</summary>
    public void SetJournal(SessionJournal journal)
    {
        lock (this)
        {
            if (!_ended)
            {
                _journal = journal;
            }
        }
    }

    /// <summary>Recovery: the store's summary of queued deliveries (they stay in the store until paged in).</summary>
    public void RestoreQueue(long count, long bytes, long lastSequence)
    {
        lock (this)
        {
            _journal?.RestorePaged(count, bytes);
            _sequence = Math.Max(_sequence, lastSequence);
        }
    }

    /// <summary>Writer thread: a page of queued deliveries read from the store (null when the read failed, which was logged).</summary>
    public void OnPageLoaded(int generation, List<Delivery>? page, int requested)
    {
        lock (this)
        {
            if (_ended || _journal is not { } journal || !journal.AcceptPage(generation) || page is null)
            {
                return;
            }
            foreach (var d in page)
            {
                if (journal.TakeFromPage(d))
                {
                    Queue.Enqueue(d);
                    _queuedBytes += d.Message.AccountedSize;
                }
            }
            journal.EndPage(page.Count, requested);
            if (_sink is { } sink)
            {
                Drain(sink);
            }
            else
            {
                SpillToStore();
            }
        }
    }

    /// <summary>Writer thread: the store committed everything queued before the attach: re-send, then fill the window.</summary>
    private void OnResume(IDeliverySink sink, Delivery[] pending)
    {
        lock (this)
        {
            if (!ReferenceEquals(_sink, sink) || _ended || !_resuming)
            {
                return;
            }
            _resuming = false;
            var current = new List<Delivery>(pending.Length);
            foreach (var d in pending)
            {
                // Skip flows that ended meanwhile; take the latest state of the others.
                if (Inflight.TryGetValue(d.PacketId, out var now) && now.Sequence == d.Sequence)
                {
                    current.Add(now);
                }
            }
            Resend(sink, current);
            Drain(sink);
        }
    }

    private DeliverResult DeliverDurable(ref Delivery delivery, IDeliverySink? sink, SessionJournal journal, int extraRoom)
    {
        var toWindow = sink is not null && !_resuming && (_queue?.Count ?? 0) == 0 && journal.PagedCount == 0 && (_inflight?.Count ?? 0) < _sendWindow;
        var size = delivery.Message.AccountedSize;
        while (!toWindow && !HasRoom((_queue?.Count ?? 0) + journal.PagedCount + (_offlineQoS0?.Count ?? 0),
                   _queuedBytes + journal.PagedBytes + _offlineQoS0Bytes, size, extraRoom))
        {
            if (!TryDropOldest())
            {
                QueueFull();
                return DeliverResult.Full;
            }
        }
        var ticket = journal.AddDelivery(delivery);
        if (toWindow)
        {
            return new DeliverResult(null, CommitTicket.Latest(ticket, StartFlow(ref delivery, sink!)));
        }
        if (sink is not null && journal.PagedCount == 0 && (_queue?.Count ?? 0) < BrokerStorage.PageSize)
        {
            // Not counted (no AddRef): the store pinned the message (BrokerStorage.ToStored).
            Queue.Enqueue(delivery);
            _queuedBytes += size;
        }
        else
        {
            journal.AddPaged(delivery.Sequence, size);
            MaybeReadPage();
        }
        return new DeliverResult(null, ticket);
    }

    private void EnqueueOfflineQoS0(in Delivery delivery)
    {
        var size = delivery.Message.AccountedSize;
        var count = (_queue?.Count ?? 0) + PagedCount + (_offlineQoS0?.Count ?? 0);
        var bytes = _queuedBytes + (_journal?.PagedBytes ?? 0) + _offlineQoS0Bytes;
        if (!HasRoom(count, bytes, size, 0))
        {
            // QoS 0 for an offline session: always the newest that goes (Limits:QueueFullPolicy is about QoS 1/2).
            QueueFull();
            return;
        }
        delivery.Message.Pin();
        (_offlineQoS0 ??= new Queue<Delivery>()).Enqueue(delivery);
        _offlineQoS0Bytes += size;
    }

    private void SendOfflineQoS0(IDeliverySink sink)
    {
        if (_offlineQoS0 is not { } queue)
        {
            return;
        }
        var now = Time.GetTimestamp();
        while (queue.TryDequeue(out var d))
        {
            // Queued while the session was offline, possibly before its permissions were known (restored after a
            // restart) or before they changed: read access is checked now, against the client that receives it.
            if (!d.Message.IsExpired(Time, now) && _authorization?.CanReceive(d.Message.Topic) != false)
            {
                sink.SendQoS0(d);
            }
            else
            {
                CountDrop(DropReason.OfflineQoS0Expired);
            }
        }
        _offlineQoS0 = null;
        _offlineQoS0Bytes = 0;
    }

    /// <summary>Moves the in-memory queue of an offline durable session back to the store (where it already is).</summary>
    private void SpillToStore()
    {
        if (_journal is not { } journal || _queue is not { Count: > 0 } queue)
        {
            return;
        }
        journal.Spill(queue.Peek().Sequence, queue.Count, _queuedBytes);
        queue.Clear();
        _queuedBytes = 0;
    }

    private void MaybeReadPage()
    {
        if (_journal is { } journal && _sink is not null)
        {
            journal.MaybeRequestPage(this, _queue?.Count ?? 0);
        }
    }

    private sealed class ResumeAfterCommit(OutboundFlow flow, IDeliverySink sink, Delivery[] pending) : ICommitCallback
    {
        public void OnCommitted(IStore store, CommitOutcome outcome) => flow.OnResume(sink, pending);
    }

    /// <summary>
    /// A QoS 2 PUBLISH or a PUBREL held back until the state it announces is committed (runs without the lock: it only
    /// queues). Sent even when the store refused that state: the flow in memory is what counts while the broker runs, and
    /// after a restart an older state only means a re-send, which the receiver handles.
    /// </summary>
    private sealed class SendAfterCommit(IDeliverySink sink, Delivery delivery, PacketType what) : ICommitCallback
    {
        public void OnCommitted(IStore store, CommitOutcome outcome)
        {
            if (what == PacketType.PubRel)
            {
                sink.SendAck(PacketType.PubRel, delivery.PacketId, ReasonCode.Success);
            }
            else
            {
                sink.SendPublish(delivery, dup: false);
            }
        }
    }
}
