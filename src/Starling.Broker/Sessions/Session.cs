using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The MQTT session state of one client id: subscriptions, outbound inflight window and queue, inbound QoS 2 packet
/// ids awaiting PUBREL, expiry. It outlives its connection when the session expiry says so.
/// Concurrency: every field is guarded by <see cref="_gate"/>. Other sessions' connections reach it through
/// <see cref="Deliver"/>, which only appends and hands work to the attached connection's outbound queue, so the lock
/// is held for a few hundred nanoseconds at most and never across I/O.
/// </summary>
internal sealed class Session
{
    private readonly Lock _gate = new();
    private readonly BrokerContext _broker;
    private readonly Dictionary<ushort, Delivery> _inflight = [];
    private readonly Queue<Delivery> _queue = new();
    private readonly HashSet<ushort> _inboundQoS2 = [];
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private long _queuedBytes;
    private ushort _lastPacketId;
    private long _sequence;
    private int _sendWindow;
    private volatile MqttConnection? _connection;
    // The connection that has opened this session but not attached yet (between CONNECT and CONNACK).
    private volatile MqttConnection? _pendingOwner;

    public Session(BrokerContext broker, string clientId)
    {
        _broker = broker;
        ClientId = clientId;
        DisconnectedTimestamp = broker.Time.GetTimestamp();
        _sendWindow = broker.Options.MaxInflightMessages;
    }

    public string ClientId { get; }

    /// <summary>The attached connection, if any.</summary>
    public MqttConnection? Connection => _connection;

    /// <summary>True while a connection is attached or is about to attach (the session is not expirable then).</summary>
    public bool IsConnected => _connection is not null || _pendingOwner is not null;

    /// <summary>True once an offline session has outlived its expiry interval.</summary>
    public bool IsExpired(long now)
        => !IsConnected && ExpiryInterval != uint.MaxValue
           && _broker.Time.GetElapsedTime(DisconnectedTimestamp, now) >= TimeSpan.FromSeconds(ExpiryInterval);

    /// <summary>
    /// Reserves the session for <paramref name="newOwner"/> (called under the registry lock by CONNECT) and returns
    /// the connection that held it, which the caller then disconnects. From here on the old connection's acks and
    /// its Detach are ignored, so it cannot end a session that has been taken over.
    /// </summary>
    public MqttConnection? Claim(MqttConnection newOwner)
    {
        lock (_gate)
        {
            var previous = _connection;
            _connection = null;
            _pendingOwner = newOwner;
            DisconnectedTimestamp = _broker.Time.GetTimestamp();
            return previous;
        }
    }

    /// <summary>Seconds the session outlives its connection: 0 ends it with the connection, uint.MaxValue never expires.</summary>
    public uint ExpiryInterval { get; set; }

    /// <summary>When the last connection ended (<see cref="TimeProvider.GetTimestamp"/>), for expiry.</summary>
    public long DisconnectedTimestamp { get; private set; }

    /// <summary>Set once the session has been discarded; a discarded session accepts nothing more.</summary>
    public bool IsEnded { get; private set; }

    public int InflightCount { get { lock (_gate) { return _inflight.Count; } } }

    public int QueuedCount { get { lock (_gate) { return _queue.Count; } } }

    // ---- subscriptions (changed only by the owning connection's read loop or at session end) ----

    public Subscription? GetSubscription(string filter)
    {
        lock (_gate)
        {
            return _subscriptions.GetValueOrDefault(filter);
        }
    }

    public void SetSubscription(Subscription subscription)
    {
        lock (_gate)
        {
            _subscriptions[subscription.Filter] = subscription;
        }
    }

    public Subscription? RemoveSubscription(string filter)
    {
        lock (_gate)
        {
            return _subscriptions.Remove(filter, out var removed) ? removed : null;
        }
    }

    public Subscription[] Subscriptions
    {
        get
        {
            lock (_gate)
            {
                return [.. _subscriptions.Values];
            }
        }
    }

    // ---- outbound: broker to client ----

    /// <summary>Hands one message to this session at the given (already downgraded) QoS.</summary>
    public void Deliver(Message message, QualityOfService qos, bool retain, uint[]? subscriptionIds, SharedGroup? group = null)
    {
        lock (_gate)
        {
            if (IsEnded)
            {
                return;
            }
            var connection = _connection;
            var delivery = new Delivery(message, qos, retain, subscriptionIds, group) { Sequence = ++_sequence };
            if (qos == QualityOfService.AtMostOnce)
            {
                if (connection is not null)
                {
                    connection.SendQoS0(delivery);
                }
                else if (_broker.Options.QueueQoS0Messages)
                {
                    Enqueue(delivery);
                }
                return;
            }
            if (connection is not null && _queue.Count == 0 && _inflight.Count < _sendWindow)
            {
                StartFlow(ref delivery, connection);
            }
            else
            {
                Enqueue(delivery);
            }
        }
    }

    /// <summary>
    /// Binds a new connection: re-sends unacknowledged PUBLISH (DUP=1) and PUBREL in their original order
    /// [MQTT-4.4.0-1], then fills the window from the queue. Called after CONNACK has been queued.
    /// </summary>
    public void Attach(MqttConnection connection, int sendWindow)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_pendingOwner, connection) || IsEnded)
            {
                return;
            }
            _pendingOwner = null;
            _connection = connection;
            _sendWindow = Math.Clamp(sendWindow, 1, 65_000);
            if (_inflight.Count > 0)
            {
                var pending = _inflight.Values.ToArray();
                Array.Sort(pending, static (a, b) => a.Sequence.CompareTo(b.Sequence));
                foreach (var d in pending)
                {
                    if (d.State == DeliveryState.AwaitingPubComp)
                    {
                        connection.SendAck(PacketType.PubRel, d.PacketId, ReasonCode.Success);
                    }
                    else
                    {
                        connection.SendPublish(d, dup: true);
                    }
                }
            }
            Drain(connection);
        }
    }

    /// <summary>Unbinds <paramref name="connection"/> if it is still the session's own.</summary>
    public bool Detach(MqttConnection connection)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_pendingOwner, connection))
            {
                _pendingOwner = null;
            }
            else if (ReferenceEquals(_connection, connection))
            {
                _connection = null;
            }
            else
            {
                return false;
            }
            DisconnectedTimestamp = _broker.Time.GetTimestamp();
            return true;
        }
    }

    /// <summary>PUBACK from the client: the QoS 1 flow ends [MQTT-4.3.2].</summary>
    public void OnPubAck(MqttConnection from, ushort packetId)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_connection, from) && _inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubAck)
            {
                _inflight.Remove(packetId);
                Drain(from);
            }
        }
    }

    /// <summary>PUBREC from the client: answer PUBREL (again, for a duplicate PUBREC) [MQTT-4.3.3-1]; a v5 failure code ends the flow.</summary>
    public void OnPubRec(MqttConnection from, ushort packetId, ReasonCode reason)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_connection, from))
            {
                return;
            }
            if (!_inflight.TryGetValue(packetId, out var d) || d.State is not (DeliveryState.AwaitingPubRec or DeliveryState.AwaitingPubComp))
            {
                from.SendAck(PacketType.PubRel, packetId, ReasonCode.PacketIdentifierNotFound);
                return;
            }
            if ((byte)reason >= 0x80)
            {
                _inflight.Remove(packetId);
                Drain(from);
                return;
            }
            d.State = DeliveryState.AwaitingPubComp;
            _inflight[packetId] = d;
            from.SendAck(PacketType.PubRel, packetId, ReasonCode.Success);
        }
    }

    /// <summary>PUBCOMP from the client: the QoS 2 flow ends.</summary>
    public void OnPubComp(MqttConnection from, ushort packetId)
    {
        lock (_gate)
        {
            if (ReferenceEquals(_connection, from) && _inflight.TryGetValue(packetId, out var d) && d.State == DeliveryState.AwaitingPubComp)
            {
                _inflight.Remove(packetId);
                Drain(from);
            }
        }
    }

    /// <summary>
    /// A member of a shared subscription lost its connection: hands back the messages it got through a group that
    /// another connected member can take (v5 4.8.2): everything still queued, and QoS 1 messages sent but not
    /// acknowledged. QoS 2 messages already sent stay, since the client may have them (exactly once wins).
    /// </summary>
    public List<Delivery>? TakeSharedForRedistribution()
    {
        lock (_gate)
        {
            List<Delivery>? taken = null;
            if (_queue.Count > 0)
            {
                var keep = new Queue<Delivery>(_queue.Count);
                while (_queue.TryDequeue(out var d))
                {
                    if (d.Group is { } g && g.HasConnectedMemberOtherThan(this))
                    {
                        (taken ??= []).Add(d);
                        _queuedBytes -= d.Message.Payload.Length;
                    }
                    else
                    {
                        keep.Enqueue(d);
                    }
                }
                while (keep.TryDequeue(out var d))
                {
                    _queue.Enqueue(d);
                }
            }
            foreach (var (id, d) in _inflight)
            {
                if (d.Group is { } g && d.State == DeliveryState.AwaitingPubAck && g.HasConnectedMemberOtherThan(this))
                {
                    (taken ??= []).Add(d);
                    _inflight.Remove(id);
                }
            }
            return taken;
        }
    }

    // ---- will delay (v5) ----

    private WillMessage? _delayedWill;
    private long _willDue;

    /// <summary>Holds the will until the Will Delay Interval passes or the session ends, whichever is first [MQTT-3.1.3-9].</summary>
    public void ScheduleWill(WillMessage will, uint delaySeconds)
    {
        lock (_gate)
        {
            _delayedWill = will;
            _willDue = _broker.Time.GetTimestamp() + (long)(delaySeconds * (double)_broker.Time.TimestampFrequency);
        }
    }

    /// <summary>The delayed will if its time has come (or <paramref name="force"/>, at session end); clears it.</summary>
    public WillMessage? TakeWill(long now, bool force)
    {
        lock (_gate)
        {
            if (_delayedWill is not { } will || (!force && now < _willDue))
            {
                return null;
            }
            _delayedWill = null;
            return will;
        }
    }

    /// <summary>A new connection resumed the session in time: the delayed will is not sent.</summary>
    public void CancelWill()
    {
        lock (_gate)
        {
            _delayedWill = null;
        }
    }

    // ---- inbound QoS 2: client to broker ----

    /// <summary>True the first time a QoS 2 packet id is seen; false for a re-sent PUBLISH before PUBREL [MQTT-4.3.3-2].</summary>
    public bool TryBeginInboundQoS2(ushort packetId)
    {
        lock (_gate)
        {
            return _inboundQoS2.Add(packetId);
        }
    }

    public bool IsInboundQoS2Pending(ushort packetId)
    {
        lock (_gate)
        {
            return _inboundQoS2.Contains(packetId);
        }
    }

    /// <summary>PUBREL from the client: forget the packet id; false when it was not known.</summary>
    public bool CompleteInboundQoS2(ushort packetId)
    {
        lock (_gate)
        {
            return _inboundQoS2.Remove(packetId);
        }
    }

    public int InboundQoS2Count { get { lock (_gate) { return _inboundQoS2.Count; } } }

    /// <summary>Marks the session ended and returns its subscriptions so the caller can drop them from the index.</summary>
    public Subscription[] End()
    {
        lock (_gate)
        {
            IsEnded = true;
            _connection = null;
            _pendingOwner = null;
            _inflight.Clear();
            _queue.Clear();
            _queuedBytes = 0;
            _inboundQoS2.Clear();
            var subscriptions = _subscriptions.Values.ToArray();
            _subscriptions.Clear();
            return subscriptions;
        }
    }

    // ---- internals (caller holds _gate) ----

    private void Enqueue(in Delivery delivery)
    {
        var options = _broker.Options;
        var size = delivery.Message.Payload.Length;
        if (_queue.Count >= options.MaxQueuedMessages || (options.MaxQueuedBytes > 0 && _queuedBytes + size > options.MaxQueuedBytes))
        {
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedQueueFull);
            return;
        }
        _queue.Enqueue(delivery);
        _queuedBytes += size;
    }

    private void Drain(MqttConnection connection)
    {
        var now = 0L;
        while (_inflight.Count < _sendWindow && _queue.TryDequeue(out var next))
        {
            _queuedBytes -= next.Message.Payload.Length;
            if (next.Message.Properties?.MessageExpiryInterval is not null)
            {
                now = now == 0 ? _broker.Time.GetTimestamp() : now;
                if (next.Message.IsExpired(_broker.Time, now))
                {
                    Interlocked.Increment(ref _broker.Counters.MessagesExpired);
                    continue;
                }
            }
            if (next.QoS == QualityOfService.AtMostOnce)
            {
                connection.SendQoS0(next);
            }
            else
            {
                StartFlow(ref next, connection);
            }
        }
    }

    private void StartFlow(ref Delivery delivery, MqttConnection connection)
    {
        if (!connection.Fits(delivery))
        {
            // Larger than the client's Maximum Packet Size: discard as if sent and acknowledged [MQTT-3.1.2-25].
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedTooLarge);
            return;
        }
        delivery.PacketId = NextPacketId();
        delivery.State = delivery.QoS == QualityOfService.AtLeastOnce ? DeliveryState.AwaitingPubAck : DeliveryState.AwaitingPubRec;
        _inflight[delivery.PacketId] = delivery;
        connection.SendPublish(delivery, dup: false);
    }

    private ushort NextPacketId()
    {
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (_inflight.ContainsKey(_lastPacketId));
        return _lastPacketId;
    }
}
