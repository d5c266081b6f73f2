using Starling.Broker.Storage;

namespace Starling.Broker;

/// <summary>
/// The client-to-broker side of <see cref="Session"/>: inbound QoS 2 packet ids awaiting PUBREL (method A of 4.3.3)
/// and the order of inbound acknowledgements that wait for a store commit. Guarded by the session's monitor, except
/// the deferred-ack counter, which is Interlocked.
/// </summary>
internal sealed partial class Session
{
    // Created on first use: most sessions never receive QoS 2, and an idle session should cost little.
    private HashSet<ushort>? _inboundQoS2;
    // Inbound acknowledgements (PUBACK/PUBREC/PUBCOMP) of this session's publishes waiting for a store commit. Only
    // touched through the methods here, with Interlocked: incremented by the session's read loop, decremented by the
    // store writer thread once the ack is queued.
    private int _deferredAcks;

    // ---- inbound QoS 2: client to broker ----

    /// <summary>
    /// True the first time a QoS 2 packet id is seen; false for a re-sent PUBLISH before PUBREL [MQTT-4.3.3-2].
    /// <paramref name="ticket"/>: the store operation the PUBREC must wait for (durable sessions).
    /// </summary>
    public bool TryBeginInboundQoS2(ushort packetId, out CommitTicket ticket)
    {
        lock (this)
        {
            ticket = default;
            if (!(_inboundQoS2 ??= []).Add(packetId))
            {
                return false;
            }
            if (_journal is { } journal)
            {
                ticket = journal.AddInboundQoS2(packetId);
            }
            return true;
        }
    }

    public bool IsInboundQoS2Pending(ushort packetId)
    {
        lock (this)
        {
            return _inboundQoS2?.Contains(packetId) == true;
        }
    }

    /// <summary>
    /// PUBREL from the client: forget the packet id; false when it was not known. <paramref name="ticket"/>: the
    /// removal the PUBCOMP must wait for (so a reused packet id is never mistaken for a re-send after a restart).
    /// </summary>
    public bool CompleteInboundQoS2(ushort packetId, out CommitTicket ticket)
    {
        lock (this)
        {
            ticket = default;
            if (_inboundQoS2 is null || !_inboundQoS2.Remove(packetId))
            {
                return false;
            }
            if (_journal is { } journal)
            {
                ticket = journal.RemoveInboundQoS2(packetId);
            }
            return true;
        }
    }

    public int InboundQoS2Count { get { lock (this) { return _inboundQoS2?.Count ?? 0; } } }

    // ---- acknowledgement order (BrokerStorage.Acknowledge) ----

    /// <summary>
    /// Whether an inbound ack must wait for a commit: it depends on an operation not yet committed
    /// (<paramref name="ticket"/>), or an earlier ack of this session still waits (acks keep their order [MQTT-4.6.0-2]).
    /// </summary>
    public bool MustDeferAck(CommitTicket ticket) => ticket.IsPending || Volatile.Read(ref _deferredAcks) > 0;

    /// <summary>An ack was handed to the store writer to send after a commit (read loop).</summary>
    public void AckDeferred() => Interlocked.Increment(ref _deferredAcks);

    /// <summary>A deferred ack was queued for sending (store writer thread).</summary>
    public void DeferredAckSent() => Interlocked.Decrement(ref _deferredAcks);
}
