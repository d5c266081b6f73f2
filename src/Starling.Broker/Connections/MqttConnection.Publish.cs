using System.Buffers;
using Starling.Protocol;

namespace Starling.Broker;

internal sealed partial class MqttConnection
{
    // Inbound topic aliases of a v5 client (index = alias); created on first use.
    private TopicName?[]? _topicAliases;
    // The topic of the last PUBLISH read: the decoder reuses it while the client repeats it (read loop only).
    private TopicName? _lastTopic;
    // v5: the last PUBLISH's properties, reused while the client repeats their bytes (read loop only; created on first use).
    private PublishPropertiesCache? _publishProperties;

    private void HandlePublish(in PublishView publish)
    {
        var topicName = ResolveTopic(publish);
        var topic = topicName.Name;
        var qos = publish.QoS;
        var session = _session!;
        _broker.Storage.BeginPublish();
        if (qos > _broker.Options.MaximumQoS)
        {
            // [MQTT-3.2.2-11]: a v5 client that exceeds the announced Maximum QoS gets DISCONNECT 0x9B.
            throw new MqttProtocolException(ReasonCode.QoSNotSupported, $"PUBLISH at QoS {(int)qos} above the server's maximum");
        }
        if (publish.Retain && !_broker.Options.RetainAvailable)
        {
            throw new MqttProtocolException(ReasonCode.RetainNotSupported, "retained PUBLISH while Retain Available is 0 [MQTT-3.3.1-15]");
        }
        if (qos == QualityOfService.ExactlyOnce)
        {
            if (!session.TryBeginInboundQoS2(publish.PacketId))
            {
                // A re-sent PUBLISH before PUBREL: acknowledge again, deliver nothing twice [MQTT-4.3.3-2].
                _broker.Storage.Acknowledge(session, this, PacketType.PubRec, publish.PacketId, ReasonCode.Success);
                return;
            }
            if (_version == ProtocolVersion.V500 && session.InboundQoS2Count > _broker.Options.ReceiveMaximum)
            {
                throw new MqttProtocolException(ReasonCode.ReceiveMaximumExceeded, "more unacknowledged QoS 2 publishes than Receive Maximum [MQTT-3.3.4-9]");
            }
        }
        Interlocked.Increment(ref _broker.Counters.MessagesReceived);

        // Clients may not publish into the broker's own $SYS tree: acknowledged (so flows complete) and dropped.
        var refusal = topic.StartsWith("$SYS/", StringComparison.Ordinal) || topic == "$SYS" ? ReasonCode.NotAuthorized : CheckPublishSecurity(topic);
        if (publish.Properties?.PayloadFormatIndicator == 1 && _broker.Options.ValidatePayloadFormat
            && !IsUtf8(publish.Payload))
        {
            // [MQTT-3.3.2-4] lets the receiver reject a payload that is not the UTF-8 it claims to be.
            refusal = ReasonCode.PayloadFormatInvalid;
        }
        var refused = refusal != ReasonCode.Success;
        var matched = 0;
        if (!refused)
        {
            var properties = ForwardedProperties(publish.Properties, _publishProperties);
            var now = _broker.Time.GetTimestamp();
            if (publish.Retain)
            {
                // Kept by the retained store, so GC-owned from the start (Message, "Lifetime"); stored (or, with an
                // empty payload, deleted) and still delivered to current subscribers [MQTT-3.3.1-5..11].
                var retained = new Message(topicName, publish.Payload.ToArray(), qos, true, properties, _clientId, now);
                _broker.Retained.Set(retained);
                matched = _broker.Router.Route(retained);
            }
            else
            {
                // Pooled: this read loop holds the first reference while routing; queues and inflight entries take
                // their own, and the last release (usually a subscriber's writer) returns it.
                var message = Message.Rent(_messagePool, topicName, publish.Payload, qos, false, properties, _clientId, now);
                try
                {
                    matched = _broker.Router.Route(message);
                }
                finally
                {
                    message.Release();
                }
            }
        }
        if (qos == QualityOfService.AtMostOnce)
        {
            return;
        }
        var reason = refused ? refusal : matched == 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success;
        // With a store: sent once the message (for durable subscribers, retained) and QoS 2 id are committed.
        _broker.Storage.Acknowledge(session, this, qos == QualityOfService.AtLeastOnce ? PacketType.PubAck : PacketType.PubRec, publish.PacketId, reason);
        if (qos == QualityOfService.ExactlyOnce && refused && _version == ProtocolVersion.V500)
        {
            // A PUBREC with a failure code ends the flow: no PUBREL will come for this id.
            session.CompleteInboundQoS2(publish.PacketId);
        }
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

    private TopicName ResolveTopic(in PublishView publish)
    {
        if (_version != ProtocolVersion.V500 || publish.Properties?.TopicAlias is not ushort alias)
        {
            return publish.Topic ?? throw new MqttProtocolException(ReasonCode.ProtocolError, "empty topic name without a topic alias");
        }
        if (alias == 0 || alias > _broker.Options.TopicAliasMaximum)
        {
            throw new MqttProtocolException(ReasonCode.TopicAliasInvalid, $"topic alias {alias} outside 1..{_broker.Options.TopicAliasMaximum} [MQTT-3.3.2-9]");
        }
        _topicAliases ??= new TopicName?[_broker.Options.TopicAliasMaximum + 1];
        if (publish.Topic is { } topic)
        {
            _topicAliases[alias] = topic;
            return topic;
        }
        return _topicAliases[alias] ?? throw new MqttProtocolException(ReasonCode.ProtocolError, $"topic alias {alias} used before it was set");
    }

    private void HandleAck(in PubAckView ack)
    {
        var session = _session!;
        switch (ack.Type)
        {
            case PacketType.PubAck:
                session.OnPubAck(this, ack.PacketId);
                break;
            case PacketType.PubRec:
                session.OnPubRec(this, ack.PacketId, ack.ReasonCode);
                break;
            case PacketType.PubComp:
                session.OnPubComp(this, ack.PacketId);
                break;
            default:
                // PUBREL: the client releases an inbound QoS 2 message; answer PUBCOMP even for an unknown id
                // (v5 says which with 0x92) so a client recovering after reconnect can finish [MQTT-4.3.3-1].
                var known = session.CompleteInboundQoS2(ack.PacketId);
                _broker.Storage.Acknowledge(session, this, PacketType.PubComp, ack.PacketId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound);
                break;
        }
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
