using System.Buffers;
using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Inbound PUBLISH and the acks of a connected client (PUBACK, PUBREC, PUBREL, PUBCOMP): topic aliases, limits and
/// permissions, one copy of the payload into a <see cref="Message"/>, retained store, routing, and the acknowledgement
/// (after the commit when a store holds the message). One per broker; runs on the publisher's read loop, over the
/// connection's <see cref="ConnectionState"/>. The hot path: nothing allocated per message once warm.
/// </summary>
internal sealed class PublishHandler(BrokerOptions options, TimeProvider time, BrokerCounters counters, SecurityRuntime security,
    BrokerStorage storage, RetainedStore retained, Router router, MessagePool messagePool)
{
    /// <summary>
    /// Handles one PUBLISH; returns what the read loop waits for before reading on: a subscriber whose QoS 0 lane it
    /// found congested but moving, and whether it queued store work while the store writer's queue is past its limits.
    /// </summary>
    public ReadPause Handle(MqttConnection connection, in PublishView publish)
    {
        ref var state = ref connection.State;
        var topicName = ResolveTopic(ref state, publish);
        var topic = topicName.Name;
        var qos = publish.QoS;
        var session = state.Session!;
        if (qos > options.MaximumQoS)
        {
            // [MQTT-3.2.2-11]: a v5 client that exceeds the announced Maximum QoS gets DISCONNECT 0x9B.
            throw new MqttProtocolException(ReasonCode.QoSNotSupported, $"PUBLISH at QoS {(int)qos} above the server's maximum");
        }
        if (publish.Retain && !options.RetainAvailable)
        {
            throw new MqttProtocolException(ReasonCode.RetainNotSupported, "retained PUBLISH while Retain Available is 0 [MQTT-3.3.1-15]");
        }
        if ((qos != QualityOfService.AtMostOnce || publish.Retain) && storage.IsFull
            && !(publish.Retain && publish.Payload.IsEmpty)
            && !(qos == QualityOfService.ExactlyOnce && session.IsInboundQoS2Pending(publish.PacketId)))
        {
            // An empty retained PUBLISH deletes a retained message [MQTT-3.3.1-10]: it frees room, so it passes (the
            // writer commits deletions first when a batch does not fit); otherwise a store filled with retained
            // messages could not be emptied.
            // Checked before anything is recorded (a QoS 2 id would make the client's re-send look like a duplicate).
            // A re-sent QoS 2 PUBLISH whose id is known was stored already and is answered as usual below.
            RefuseStoreFull(connection, ref state, qos, publish.PacketId, topic);
            return default;
        }
        // The store operations the PUBACK/PUBREC must wait for (returned by each step, never a thread-static mark).
        Storage.CommitTicket ticket = default;
        if (qos == QualityOfService.ExactlyOnce)
        {
            if (!session.TryBeginInboundQoS2(publish.PacketId, out ticket))
            {
                // A re-sent PUBLISH before PUBREL: acknowledge again, deliver nothing twice [MQTT-4.3.3-2].
                storage.Acknowledge(session, connection.Writer, ticket, PacketType.PubRec, publish.PacketId, ReasonCode.Success);
                return default;
            }
            if (state.Version == ProtocolVersion.V500 && session.InboundQoS2Count > options.ReceiveMaximum)
            {
                throw new MqttProtocolException(ReasonCode.ReceiveMaximumExceeded, "more unacknowledged QoS 2 publishes than Receive Maximum [MQTT-3.3.4-9]");
            }
        }
        Interlocked.Increment(ref counters.MessagesReceived);

        // Clients may not publish into the broker's own $SYS tree: acknowledged (so flows complete) and dropped.
        var refusal = topic.StartsWith("$SYS/", StringComparison.Ordinal) || topic == "$SYS" ? ReasonCode.NotAuthorized : CheckSecurity(ref state, topic);
        if (publish.Properties?.PayloadFormatIndicator == 1 && options.ValidatePayloadFormat
            && !IsUtf8(publish.Payload))
        {
            // [MQTT-3.3.2-4] lets the receiver reject a payload that is not the UTF-8 it claims to be.
            refusal = ReasonCode.PayloadFormatInvalid;
        }
        var refused = refusal != ReasonCode.Success;
        var route = default(RouteResult);
        var retainedRefused = false;
        if (!refused)
        {
            var properties = ForwardedProperties(publish.Properties, state.Publisher?.Properties);
            var now = time.GetTimestamp();
            if (publish.Retain)
            {
                // Kept by the retained store, so GC-owned from the start (Message, "Lifetime"); stored (or, with an
                // empty payload, deleted) and still delivered to current subscribers [MQTT-3.3.1-5..11].
                var message = new Message(topicName, publish.Payload.ToArray(), qos, true, properties, state.ClientId, now);
                // Past Limits:MaxRetainedMessages / MaxRetainedBytes: not stored, still routed; a v5 QoS 1/2 publisher
                // learns it from 0x97 Quota exceeded (3.1.1 has no code for it).
                retainedRefused = !retained.TrySet(message, out var retainedTicket);
                route = router.Route(message);
                ticket = Storage.CommitTicket.Latest(ticket, retainedTicket);
            }
            else
            {
                // Pooled: this read loop holds the first reference while routing; queues and inflight entries take
                // their own, and the last release (usually a subscriber's writer) returns it.
                var message = Message.Rent(messagePool, topicName, publish.Payload, qos, false, properties, state.ClientId, now);
                try
                {
                    route = router.Route(message);
                }
                finally
                {
                    message.Release();
                }
            }
        }
        var congested = route.Congested as ConnectionWriter;
        ticket = Storage.CommitTicket.Latest(ticket, route.Ticket);
        if (qos == QualityOfService.AtMostOnce)
        {
            return Pause(congested, ticket);
        }
        var reason = refused ? refusal
            : retainedRefused || QueuesFull(route, state.Version) ? ReasonCode.QuotaExceeded
            : route.Delivered == 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success;
        if (qos == QualityOfService.ExactlyOnce && refused && state.Version == ProtocolVersion.V500)
        {
            // A PUBREC with a failure code ends the flow: no PUBREL will come for this id. Forget it before the PUBREC
            // leaves (with a store: after the removal is committed), or a crash in between would leave the id pending
            // and a later PUBLISH reusing it would be taken for a re-send and lost.
            session.CompleteInboundQoS2(publish.PacketId, out var removal);
            ticket = Storage.CommitTicket.Latest(ticket, removal);
        }
        // With a store: sent once the message (for durable subscribers, retained) and QoS 2 id are committed.
        storage.Acknowledge(session, connection.Writer, ticket, qos == QualityOfService.AtLeastOnce ? PacketType.PubAck : PacketType.PubRec, publish.PacketId, reason);
        return Pause(congested, ticket);
    }

    /// <summary>
    /// Back-pressure toward publishers: a PUBLISH that queued store work while the writer's queue is past its limits makes
    /// its read loop stop until the queue drains (its acknowledgement waits for the commit anyway). Two reads otherwise.
    /// </summary>
    private ReadPause Pause(ConnectionWriter? congested, Storage.CommitTicket ticket)
    {
        if (!ticket.IsPending || !storage.IsBackedUp)
        {
            return new ReadPause(congested, false);
        }
        Interlocked.Increment(ref counters.StorePublisherPauses);
        storage.LogPaused();
        return new ReadPause(congested, true);
    }

    /// <summary>
    /// The store writer's queue is past its limits after this connection's PUBLISH: its read loop reads nothing more until
    /// the queue drains (its acknowledgements wait for those commits anyway). Looks every 100 ms whether the connection
    /// is closing, so a store that cannot write (full disk) never holds a closed connection's read loop.
    /// </summary>
    public async Task WaitForStoreRoomAsync(MqttConnection connection)
    {
        while (!connection.IsClosing)
        {
            var room = storage.WaitForRoomAsync();
            if (room.IsCompleted)
            {
                return;
            }
            // Real time on purpose: a poll of the closing flag, not a protocol timer.
            await Task.WhenAny(room, Task.Delay(TimeSpan.FromMilliseconds(100))).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A message that would have to be stored while the store is full (Storage:MaxDatabaseSize): never acknowledged as
    /// accepted. MQTT 5: PUBACK / PUBREC 0x97 Quota exceeded, which ends the flow (0x97 is a PUBACK and PUBREC reason code, sections 3.4.2.1 and 3.5.2.1) and
    /// leaves the connection open. MQTT 3.1.1 and 3.1 have no failure code in PUBACK / PUBREC, and a positive one would
    /// acknowledge a message the broker did not keep: the connection is closed without one (as 3.1.1 lets a server do
    /// with a PUBLISH it will not accept, [MQTT-3.3.5-2]), and the client sends the message again after reconnecting.
    /// QoS 0 (a retained one) is dropped: at most once allows it. Counted and logged (rate-limited) in every case.
    /// </summary>
    private void RefuseStoreFull(MqttConnection connection, ref ConnectionState state, QualityOfService qos, ushort packetId, string topic)
    {
        Interlocked.Increment(ref counters.MessagesRefusedStoreFull);
        storage.LogRefusedFull(state.ClientId, topic);
        if (qos == QualityOfService.AtMostOnce)
        {
            return;
        }
        if (state.Version == ProtocolVersion.V500)
        {
            storage.Acknowledge(state.Session!, connection.Writer, default, qos == QualityOfService.AtLeastOnce ? PacketType.PubAck : PacketType.PubRec,
                packetId, ReasonCode.QuotaExceeded);
            return;
        }
        connection.Abort(null, "the store is full (Storage:MaxDatabaseSize): PUBLISH not acknowledged");
    }

    /// <summary>
    /// Limits:QueueFullPolicy RejectPublish: a v5 publisher hears 0x97 Quota exceeded when every session the message
    /// matched had a full queue (so nobody got it); 3.1.1 has no failure code in PUBACK.
    /// </summary>
    private bool QueuesFull(in RouteResult route, ProtocolVersion version)
    {
        if (route.Full == 0 || route.Full < route.Delivered || options.QueueFullPolicy != QueueFullPolicy.RejectPublish
            || version != ProtocolVersion.V500)
        {
            return false;
        }
        Interlocked.Increment(ref counters.PublishesRefusedQueueFull);
        return true;
    }

    /// <summary>
    /// An acknowledgement from the client: of the outbound flow (PUBACK, PUBREC, PUBCOMP) or PUBREL of an inbound one.
    /// An outbound ack of the wrong type for a packet id in flight is a protocol violation: the connection closes
    /// ([MQTT-4.8.0-1]; v5 gets DISCONNECT 0x82). Acks for packet ids not in flight are ignored.
    /// </summary>
    public void HandleAck(MqttConnection connection, in PubAckView ack)
    {
        var session = connection.State.Session!;
        AckResult result;
        switch (ack.Type)
        {
            case PacketType.PubAck:
                result = session.OnPubAck(connection.Writer, ack.PacketId);
                break;
            case PacketType.PubRec:
                result = session.OnPubRec(connection.Writer, ack.PacketId, ack.ReasonCode);
                break;
            case PacketType.PubComp:
                result = session.OnPubComp(connection.Writer, ack.PacketId);
                break;
            default:
                // PUBREL: the client releases an inbound QoS 2 message; answer PUBCOMP even for an unknown id
                // (v5 says which with 0x92) so a client recovering after reconnect can finish [MQTT-4.3.3-1].
                var known = session.CompleteInboundQoS2(ack.PacketId, out var removal);
                storage.Acknowledge(session, connection.Writer, removal, PacketType.PubComp, ack.PacketId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound);
                return;
        }
        if (result.Outcome == AckOutcome.WrongType)
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError,
                $"{ack.Type} for packet id {ack.PacketId}, which is in flight awaiting {result.Awaited} [MQTT-4.8.0-1]");
        }
    }

    /// <summary>Success, or the reason a PUBLISH to <paramref name="topic"/> is acknowledged but dropped.</summary>
    private ReasonCode CheckSecurity(ref ConnectionState state, string topic)
    {
        var limits = security.Options;
        if (topic.Length > limits.MaxTopicLength || TopicFilter.Levels(topic) > limits.MaxTopicLevels)
        {
            Interlocked.Increment(ref security.Counters.TopicLimitExceeded);
            security.Log.Write(RejectionCause.TopicLimit, $"PUBLISH of client '{state.ClientId}' dropped: topic longer than Limits:MaxTopicLength ({limits.MaxTopicLength}) or deeper than Limits:MaxTopicLevels ({limits.MaxTopicLevels})");
            return ReasonCode.TopicNameInvalid;
        }
        if (limits.MaxPublishRate > 0)
        {
            var bucket = (state.Publisher ??= new PublisherState()).Bucket ??= new TokenBucket(limits.MaxPublishRate, limits.PublishBurst, time);
            if (!bucket.TryTake())
            {
                Interlocked.Increment(ref security.Counters.PublishRateExceeded);
                security.Log.Write(RejectionCause.PublishRate, $"PUBLISH of client '{state.ClientId}' dropped: above Limits:MaxPublishRate ({limits.MaxPublishRate}/s)");
                return ReasonCode.QuotaExceeded;
            }
        }
        if (state.Authorization is { } authorization && !authorization.CanPublish(topic))
        {
            return ReasonCode.NotAuthorized;
        }
        return ReasonCode.Success;
    }

    private static bool IsUtf8(in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            return Utf8Validator.IsValid(payload.FirstSpan);
        }
        var copy = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        try
        {
            payload.CopyTo(copy);
            return Utf8Validator.IsValid(copy.AsSpan(0, (int)payload.Length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    private TopicName ResolveTopic(ref ConnectionState state, in PublishView publish)
    {
        if (state.Version != ProtocolVersion.V500 || publish.Properties?.TopicAlias is not ushort alias)
        {
            return publish.Topic ?? throw new MqttProtocolException(ReasonCode.ProtocolError, "empty topic name without a topic alias");
        }
        if (alias == 0 || alias > options.TopicAliasMaximum)
        {
            throw new MqttProtocolException(ReasonCode.TopicAliasInvalid, $"topic alias {alias} outside 1..{options.TopicAliasMaximum} [MQTT-3.3.2-9]");
        }
        var aliases = (state.Publisher ??= new PublisherState()).TopicAliases ??= new TopicName?[options.TopicAliasMaximum + 1];
        if (publish.Topic is { } topic)
        {
            aliases[alias] = topic;
            return topic;
        }
        return aliases[alias] ?? throw new MqttProtocolException(ReasonCode.ProtocolError, $"topic alias {alias} used before it was set");
    }

    /// <summary>
    /// The properties a subscriber may see: everything but the topic alias and subscription identifiers. Messages
    /// never change their properties, so the copy made for the connection's cached properties is shared by every
    /// message that repeats them.
    /// </summary>
    private static MqttProperties? ForwardedProperties(MqttProperties? source, PublishPropertiesCache? cache)
    {
        if (source is null)
        {
            return null;
        }
        if (source.TopicAlias is null && source.SubscriptionIdentifiers is null)
        {
            return source;
        }
        var cached = cache is not null && ReferenceEquals(cache.Properties, source);
        if (cached && cache!.Derived is MqttProperties forwarded)
        {
            return forwarded;
        }
        var copy = source.Clone();
        copy.TopicAlias = null;
        copy.SubscriptionIdentifiers = null;
        if (cached)
        {
            cache!.Derived = copy;
        }
        return copy;
    }
}
