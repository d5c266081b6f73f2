using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// SUBSCRIBE and UNSUBSCRIBE of a connected client: filter validation, limits and permissions per filter (a refused
/// or invalid filter fails alone in SUBACK, the others proceed), the topic index and the session's subscriptions, then
/// the retained messages the new subscriptions ask for. One per broker; runs on the subscriber's read loop.
/// </summary>
internal sealed class SubscribeHandler(BrokerOptions options, TimeProvider time, BrokerCounters counters, SecurityRuntime security, LimitLog limitLog,
    TopicIndex index, RetainedStore retained, Storage.BrokerStorage storage)
{
    /// <summary>Handles SUBSCRIBE; returns the connection's writer when its own retained messages left its data lane congested (the read loop waits).</summary>
    public ConnectionWriter? HandleSubscribe(MqttConnection connection, SubscribePacket subscribe)
    {
        ref var state = ref connection.State;
        var session = state.Session!;
        var v5 = state.Version == ProtocolVersion.V500;
        if (!AckFits(connection, PacketType.SubAck, subscribe.Subscriptions.Count))
        {
            return null; // closing: nothing subscribed that the client could not learn about
        }
        var subscriptionId = subscribe.Properties?.SubscriptionIdentifiers is [var id, ..] ? id : 0u;
        var codes = new ReasonCode[subscribe.Subscriptions.Count];
        List<(Subscription Subscription, bool Existed)>? granted = null;
        for (var i = 0; i < codes.Length; i++)
        {
            var (filter, subscriptionOptions) = subscribe.Subscriptions[i];
            var topicFilter = filter;
            string? shareName = null;
            if (filter.StartsWith("$share/", StringComparison.Ordinal))
            {
                if (!TopicValidator.IsSharedSubscription(filter, out var name, out var inner))
                {
                    codes[i] = v5 ? ReasonCode.TopicFilterInvalid : ReasonCode.UnspecifiedError;
                    continue;
                }
                if (subscriptionOptions.NoLocal && v5)
                {
                    throw new MqttProtocolException(ReasonCode.ProtocolError, "No Local on a shared subscription [MQTT-3.8.3-4]");
                }
                shareName = name;
                topicFilter = inner;
            }
            else if (!TopicValidator.IsValidTopicFilter(filter))
            {
                // An invalid filter fails alone: SUBACK 0x80 (3.1.1) / 0x8F (5.0) for it, the others proceed [MQTT-3.9.3-2].
                codes[i] = v5 ? ReasonCode.TopicFilterInvalid : ReasonCode.UnspecifiedError;
                continue;
            }
            if (CheckSecurity(ref state, filter, topicFilter, session) is var denied and not ReasonCode.Success)
            {
                codes[i] = v5 ? denied : ReasonCode.UnspecifiedError;
                continue;
            }
            if (session.ExpiryInterval > 0 && storage.RefuseGrowth("SUBSCRIBE", state.ClientId))
            {
                // A durable session's subscription is a row in the store, which is full (Storage:MaxDatabaseSize):
                // refused per filter, nothing recorded; v5 0x97 Quota exceeded, 3.1.1 0x80 Failure [MQTT-3.9.3-2].
                codes[i] = v5 ? ReasonCode.QuotaExceeded : ReasonCode.UnspecifiedError;
                continue;
            }
            var qos = subscriptionOptions.QoS > options.MaximumQoS ? options.MaximumQoS : subscriptionOptions.QoS;
            var subscription = new Subscription(session, filter, topicFilter, subscriptionOptions with { QoS = qos }, subscriptionId, shareName);
            var existed = session.GetSubscription(filter) is not null;
            // Replaces an existing subscription with the same filter, keeping no duplicate [MQTT-3.8.4-3].
            index.Add(subscription);
            session.SetSubscription(subscription);
            codes[i] = (ReasonCode)(byte)qos;
            (granted ??= []).Add((subscription, existed));
        }
        connection.Writer.SendControl(new SubAckPacket { PacketId = subscribe.PacketId, ReasonCodes = codes });
        if (granted is null || !options.RetainAvailable)
        {
            return null;
        }
        return SendRetained(session, state.Authorization, granted) ? connection.Writer : null;
    }

    /// <summary>
    /// Retained messages after the SUBACK (control lane goes first), never for shared subscriptions. Returns whether a
    /// QoS 0 delivery found the subscriber's data lane congested but moving.
    /// </summary>
    private bool SendRetained(Session session, IClientAuthorization? authorization, List<(Subscription Subscription, bool Existed)> granted)
    {
        var now = time.GetTimestamp();
        var congested = false;
        foreach (var (s, existed) in granted)
        {
            if (s.ShareName is not null
                || s.Options.RetainHandling == RetainHandling.DoNotSend
                || (s.Options.RetainHandling == RetainHandling.SendAtSubscribeIfNew && existed))
            {
                continue;
            }
            // All of them, past the queue limits by their own number if need be (Session.Deliver, extraRoom).
            var matching = retained.Matching(s.TopicFilter).ToList();
            foreach (var message in matching)
            {
                if (message.IsExpired(time, now) || authorization?.CanReceive(message.Topic) == false)
                {
                    continue;
                }
                var qos = message.QoS < s.Options.QoS ? message.QoS : s.Options.QoS;
                // Retained messages sent because of a subscription carry RETAIN 1 [MQTT-3.3.1-8].
                congested |= session.Deliver(message, qos, retain: true, s.IdArray, extraRoom: matching.Count).Congested is not null;
            }
        }
        return congested;
    }

    public void HandleUnsubscribe(MqttConnection connection, UnsubscribePacket unsubscribe)
    {
        if (!AckFits(connection, PacketType.UnsubAck, unsubscribe.TopicFilters.Count))
        {
            return; // closing: nothing removed that the client could not learn about
        }
        var session = connection.State.Session!;
        var codes = new ReasonCode[unsubscribe.TopicFilters.Count];
        for (var i = 0; i < codes.Length; i++)
        {
            var filter = unsubscribe.TopicFilters[i];
            var removed = session.RemoveSubscription(filter);
            if (removed is not null)
            {
                index.Remove(removed);
            }
            codes[i] = removed is not null ? ReasonCode.Success
                : TopicValidator.IsValidTopicFilter(filter) || TopicValidator.IsSharedSubscription(filter, out _, out _) ? ReasonCode.NoSubscriptionExisted
                : ReasonCode.TopicFilterInvalid;
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-5].
        connection.Writer.SendControl(new UnsubAckPacket { PacketId = unsubscribe.PacketId, ReasonCodes = codes });
    }

    /// <summary>
    /// Whether the v5 SUBACK / UNSUBACK for <paramref name="count"/> filters (packet id, empty properties, one reason
    /// code each) fits the client's Maximum Packet Size [MQTT-3.1.2-24]. Checked before anything changes: when it does
    /// not fit, the connection closes (DISCONNECT 0x95 if that fits) and the request is not carried out.
    /// </summary>
    private static bool AckFits(MqttConnection connection, PacketType type, int count)
    {
        var maximum = connection.Writer.ClientMaxPacketSize;
        if (maximum == uint.MaxValue || connection.Version != ProtocolVersion.V500)
        {
            return true;
        }
        var size = PacketSizeGuard.SizeOf(2 + 1 + count);
        if ((uint)size <= maximum)
        {
            return true;
        }
        connection.Writer.CloseForTooLarge(type, size);
        return false;
    }

    /// <summary>Success, or the SUBACK failure for <paramref name="filter"/> (the v5 code; 3.1.1 sends 0x80).</summary>
    private ReasonCode CheckSecurity(ref ConnectionState state, string filter, string topicFilter, Session session)
    {
        var limits = security.Options;
        if (topicFilter.Length > limits.MaxTopicLength || TopicFilter.Levels(topicFilter) > limits.MaxTopicLevels)
        {
            Interlocked.Increment(ref security.Counters.TopicLimitExceeded);
            security.Log.Write(RejectionCause.TopicLimit, $"SUBSCRIBE of client '{state.ClientId}' to a filter longer than Limits:MaxTopicLength or deeper than Limits:MaxTopicLevels refused");
            return ReasonCode.TopicFilterInvalid;
        }
        if (limits.MaxSubscriptionsPerClient > 0 && session.SubscriptionCount >= limits.MaxSubscriptionsPerClient && session.GetSubscription(filter) is null)
        {
            Interlocked.Increment(ref security.Counters.SubscriptionLimitExceeded);
            security.Log.Write(RejectionCause.SubscriptionLimit, $"SUBSCRIBE of client '{state.ClientId}' to '{filter}' refused: it already has {limits.MaxSubscriptionsPerClient} subscriptions (Limits:MaxSubscriptionsPerClient)");
            return ReasonCode.QuotaExceeded;
        }
        if (options.MaxSubscriptionBytesPerClient > 0 && session.GetSubscription(filter) is null
            && session.SubscriptionBytes + System.Text.Encoding.UTF8.GetByteCount(filter) > options.MaxSubscriptionBytesPerClient)
        {
            // Limits:MaxSubscriptionBytesPerClient: the filters' total, so many long filters cannot take the RAM (finding 3).
            Interlocked.Increment(ref counters.SubscriptionBytesRefused);
            limitLog.Write(LimitCause.SubscriptionBytes, state.ClientId);
            return ReasonCode.QuotaExceeded;
        }
        if (state.Authorization is { } authorization && !authorization.CanSubscribe(topicFilter))
        {
            return ReasonCode.NotAuthorized;
        }
        return ReasonCode.Success;
    }
}
