using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Broker-to-client half of one session: the inflight table (QoS 1/2 messages sent and not yet acknowledged), the
/// session queue behind it, packet ids, the send window (the client's Receive Maximum), the PUBACK / PUBREC / PUBREL /
/// PUBCOMP flows, re-sends on re-attach [MQTT-4.4.0-1], the queue limits and shared-group redistribution. It talks
/// only to an <see cref="IDeliverySink"/> (the bound connection's outbound queue), never to a connection class.
/// <para>
/// Concurrency: every field is guarded by the flow's own monitor (<c>lock (this)</c>; internal and sealed, so no other
/// code takes it). Publishers' read loops reach it through <see cref="Deliver"/>, which only appends and hands work to
/// the sink (which only queues), so the lock is held for a few hundred nanoseconds and never across I/O.
/// Lock order (docs/architecture.md, "Threading rules"): SessionRegistry's gate -> the Session's monitor -> this
/// flow's monitor -> the sink's outbound-queue lock. Nothing here takes the Session's monitor or the registry's gate,
/// so the order cannot invert.
/// </para>
/// Durable sessions have a <see cref="SessionJournal"/> (OutboundFlow.Durable.cs): every state change is queued for
/// the store, the queue continues in the store beyond a page, and outbound QoS 2 PUBLISH / PUBREL leave only once the
/// state they announce is committed. Without a journal the durable branches cost one null check.
/// </summary>
internal sealed partial class OutboundFlow
{
    private static readonly Dictionary<ushort, Delivery> s_noInflight = [];

    // Limits, counters and clock: one shared reference (SessionServices), not three per flow.
    private readonly SessionServices _services;
    // Created on first use (an idle session that never received anything holds neither); counts are read as
    // _inflight?.Count / _queue?.Count so that looking does not allocate.
    private Dictionary<ushort, Delivery>? _inflight;
    private Queue<Delivery>? _queue;
    private long _queuedBytes;
    private ushort _lastPacketId;
    private long _sequence;
    private int _sendWindow;
    // The bound connection's sink; null while the session is offline (or claimed by a connection not attached yet).
    private IDeliverySink? _sink;
    private SessionJournal? _journal;
    private bool _ended;
    private volatile IClientAuthorization? _authorization;

    public OutboundFlow(SessionServices services, string clientId = "")
    {
        _services = services;
        _clientId = clientId;
        _sendWindow = services.Options.MaxInflightMessages;
    }

    private BrokerOptions Options => _services.Options;

    private BrokerCounters Counters => _services.Counters;

    private TimeProvider Time => _services.Time;

    private Dictionary<ushort, Delivery> Inflight => _inflight ??= [];

    private Queue<Delivery> Queue => _queue ??= new();

    /// <summary>What the attached client may receive (null = everything); read without the lock, hence volatile.</summary>
    public IClientAuthorization? Authorization
    {
        get => _authorization;
        set => _authorization = value;
    }

    public int InflightCount { get { lock (this) { return _inflight?.Count ?? 0; } } }

    /// <summary>Queued deliveries held in memory (the rest of a durable session's queue is only in the store).</summary>
    public int InMemoryQueuedCount { get { lock (this) { return (_queue?.Count ?? 0) + (_offlineQoS0?.Count ?? 0); } } }

    /// <summary>Queued messages, in memory and (durable sessions) in the store.</summary>
    public int QueuedCount { get { lock (this) { return (int)Math.Min(int.MaxValue, (_queue?.Count ?? 0) + PagedCount + (_offlineQoS0?.Count ?? 0)); } } }

    private long PagedCount => _journal?.PagedCount ?? 0;

    /// <summary>
    /// Hands one message to the flow at the given (already downgraded) QoS; see Session.Deliver. Returns the sink when a
    /// QoS 0 PUBLISH found it congested but moving, and the commit ticket of the store operations it queued.
    /// </summary>
    public DeliverResult Deliver(Message message, QualityOfService qos, bool retain, uint[]? subscriptionIds, SharedGroup? group, int extraRoom)
    {
        lock (this)
        {
            if (_ended)
            {
                // A publisher's route found the session just before it ended (finding 20: counted, not silent).
                CountDrop(DropReason.SessionEnded);
                return default;
            }
            var sink = _sink;
            if (group is not null)
            {
                // Shared-group deliveries can be handed to another member (TakeShared): not counted.
                message.Pin();
            }
            var delivery = new Delivery(message, qos, retain, subscriptionIds, group) { Sequence = ++_sequence };
            if (qos == QualityOfService.AtMostOnce)
            {
                if (sink is not null)
                {
                    return new DeliverResult(sink.SendQoS0(delivery, extraRoom) ? sink : null, default);
                }
                if (Options.QueueQoS0Messages)
                {
                    if (_journal is not null)
                    {
                        EnqueueOfflineQoS0(delivery);
                    }
                    else
                    {
                        Enqueue(delivery);
                    }
                }
                return default;
            }
            if (_journal is { } journal)
            {
                return DeliverDurable(ref delivery, sink, journal, extraRoom);
            }
            if (sink is not null && (_queue?.Count ?? 0) == 0 && (_inflight?.Count ?? 0) < _sendWindow)
            {
                StartFlow(ref delivery, sink);
            }
            else if (!Enqueue(delivery, extraRoom))
            {
                return DeliverResult.Full;
            }
            return default;
        }
    }

    /// <summary>
    /// Binds a sink (the session's new connection, after CONNACK was queued): re-sends unacknowledged PUBLISH (DUP=1)
    /// and PUBREL in their original order [MQTT-4.4.0-1], then fills the window from the queue.
    /// </summary>
    public void Attach(IDeliverySink sink, int sendWindow)
    {
        lock (this)
        {
            if (_ended)
            {
                return;
            }
            _sink = sink;
            _sendWindow = Math.Clamp(sendWindow, 1, 65_000);
            _resuming = false;
            SendOfflineQoS0(sink);
            if ((_inflight?.Count ?? 0) > 0)
            {
                var pending = Inflight.Values.ToArray();
                Array.Sort(pending, static (a, b) => a.Sequence.CompareTo(b.Sequence));
                if (_journal is { } journal)
                {
                    // Re-sent once the store holds every state change queued so far (a QoS 2 PUBLISH or PUBREL must not
                    // reach the client before the state it implies is durable); new messages queue meanwhile.
                    _resuming = true;
                    journal.AfterCommit(new ResumeAfterCommit(this, sink, pending));
                    return;
                }
                Resend(sink, pending);
            }
            Drain(sink);
        }
    }

    /// <summary>Unbinds the sink: the session is offline (or claimed by a connection not attached yet).</summary>
    public void Detach()
    {
        lock (this)
        {
            _sink = null;
            _resuming = false;
        }
    }

    /// <summary>The session ended: the flow accepts nothing more and forgets everything (the journal is dropped).</summary>
    public void End()
    {
        lock (this)
        {
            if (!_ended)
            {
                CountEndedLosses();
            }
            _ended = true;
            _sink = null;
            _inflight?.Clear();
            _queue?.Clear();
            _queuedBytes = 0;
            _journal?.Clear();
            _journal = null;
            _offlineQoS0 = null;
            _offlineQoS0Bytes = 0;
        }
    }

    /// <summary>Recovery: an inflight delivery read back from the store (re-sent with DUP on attach).</summary>
    public void RestoreInflight(Delivery delivery)
    {
        lock (this)
        {
            Inflight[delivery.PacketId] = delivery;
            _sequence = Math.Max(_sequence, delivery.Sequence);
        }
    }

    // ---- internals (caller holds the flow's monitor) ----

    private void Resend(IDeliverySink sink, IEnumerable<Delivery> pending)
    {
        foreach (var d in pending)
        {
            if (d.State == DeliveryState.AwaitingPubComp)
            {
                sink.SendAck(PacketType.PubRel, d.PacketId, ReasonCode.Success);
            }
            else if (_authorization?.CanReceive(d.Message.Topic) == false)
            {
                // The client's permissions changed since the message was sent (an ACL reload, or a session restored
                // after a restart): a re-send is a delivery like any other and needs read access now. Dropped as if
                // acknowledged; counted by the authorization (DeliveryNotAuthorized).
                _inflight!.Remove(d.PacketId);
                Completed(d);
            }
            else
            {
                sink.SendPublish(d, dup: true);
            }
        }
    }

    /// <summary>A delivery left the flow (acknowledged, expired, dropped or handed to another member).</summary>
    private void Completed(in Delivery d)
    {
        if (_journal is { } journal && d.QoS != QualityOfService.AtMostOnce)
        {
            journal.RemoveDelivery(d.Sequence);
        }
    }

    /// <summary>Queues a delivery; false when the queue is full and the policy dropped it (counted and logged).</summary>
    private bool Enqueue(in Delivery delivery, int extraRoom = 0)
    {
        var size = delivery.Message.AccountedSize;
        while (!HasRoom(_queue?.Count ?? 0, _queuedBytes, size, extraRoom))
        {
            if (!TryDropOldest())
            {
                QueueFull();
                return false;
            }
        }
        // A queue entry is a counted holder: Drain releases it once the delivery has moved on (to the inflight table
        // or the outbound queue, which count their own) or was dropped. Other ways out (session end, the store,
        // redistribution of pinned shared messages) leave it to the GC.
        delivery.Message.AddRef();
        Queue.Enqueue(delivery);
        _queuedBytes += size;
        return true;
    }

    private void Drain(IDeliverySink sink)
    {
        if (_resuming)
        {
            return;
        }
        var now = 0L;
        while ((_inflight?.Count ?? 0) < _sendWindow && _queue?.TryDequeue(out var next) == true)
        {
            _queuedBytes -= next.Message.AccountedSize;
            Forward(ref next, sink, ref now);
            // The queue entry's counted reference (taken by Enqueue) ends here: whatever still needs the message
            // (inflight table, outbound queue) took its own in Forward.
            next.Message.Release();
        }
        MaybeReadPage();
    }

    /// <summary>One delivery out of the queue: dropped when expired or no longer allowed, else sent.</summary>
    private void Forward(ref Delivery next, IDeliverySink sink, ref long now)
    {
        if (next.Message.Properties?.MessageExpiryInterval is not null)
        {
            now = now == 0 ? Time.GetTimestamp() : now;
            if (next.Message.IsExpired(Time, now))
            {
                // [MQTT-3.3.2-5]: a message whose expiry interval has passed is not sent.
                CountDrop(DropReason.Expired);
                Completed(next);
                return;
            }
        }
        // Queued while this session's permissions were unknown (restored from disk after a restart, before its
        // client came back): the read check the Router could not make is made now, with the CONNECT's permissions.
        if (_authorization?.CanReceive(next.Message.Topic) == false)
        {
            CountDrop(DropReason.NotAuthorized);
            Completed(next);
            return;
        }
        if (next.QoS == QualityOfService.AtMostOnce)
        {
            // A queued QoS 0 message goes out on the subscriber's own flow (attach, ack): nobody to slow down.
            sink.SendQoS0(next);
        }
        else
        {
            StartFlow(ref next, sink);
        }
    }

    /// <summary>Takes a packet id and an inflight slot and sends; returns the ticket of the state change it queued.</summary>
    private CommitTicket StartFlow(ref Delivery delivery, IDeliverySink sink)
    {
        if (!sink.Fits(delivery))
        {
            // Larger than the client's Maximum Packet Size: discard as if sent and acknowledged [MQTT-3.1.2-25].
            CountDrop(DropReason.TooLarge);
            Completed(delivery);
            return default;
        }
        delivery.PacketId = NextPacketId();
        delivery.State = delivery.QoS == QualityOfService.AtLeastOnce ? DeliveryState.AwaitingPubAck : DeliveryState.AwaitingPubRec;
        // The inflight entry is a counted holder until PUBACK/PUBCOMP (or a failed PUBREC) removes it; any other way
        // out of the table (session end, redistribution of pinned shared messages) leaves the count to the GC.
        delivery.Message.AddRef();
        Inflight[delivery.PacketId] = delivery;
        if (_journal is { } journal)
        {
            var ticket = journal.UpdateDelivery(delivery.Sequence, delivery.PacketId, delivery.State);
            if (delivery.QoS == QualityOfService.ExactlyOnce)
            {
                // The client keeps a QoS 2 packet id until PUBREL: the id must be durable before the PUBLISH leaves, or a
                // restart would send the message again under another id and the client would deliver it twice.
                journal.AfterCommit(new SendAfterCommit(sink, delivery, PacketType.Publish));
                return ticket;
            }
            sink.SendPublish(delivery, dup: false);
            return ticket;
        }
        sink.SendPublish(delivery, dup: false);
        return default;
    }

    private ushort NextPacketId()
    {
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (Inflight.ContainsKey(_lastPacketId));
        return _lastPacketId;
    }
}
