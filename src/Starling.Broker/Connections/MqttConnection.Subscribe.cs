using Starling.Protocol;

namespace Starling.Broker;

internal sealed partial class MqttConnection
{
    /// <summary>Returns this connection when its own retained messages left its data lane congested (the read loop waits).</summary>
    private MqttConnection? HandleSubscribe(SubscribePacket subscribe)
    {
        var session = _session!;
        var v5 = _version == ProtocolVersion.V500;
        var subscriptionId = subscribe.Properties?.SubscriptionIdentifiers is [var id, ..] ? id : 0u;
        var codes = new ReasonCode[subscribe.Subscriptions.Count];
        List<(Subscription Subscription, bool Existed)>? granted = null;
        for (var i = 0; i < codes.Length; i++)
        {
            var (filter, options) = subscribe.Subscriptions[i];
            var topicFilter = filter;
            string? shareName = null;
            if (filter.StartsWith("$share/", StringComparison.Ordinal))
            {
                if (!TopicValidator.IsSharedSubscription(filter, out var name, out var inner))
                {
                    codes[i] = v5 ? ReasonCode.TopicFilterInvalid : ReasonCode.UnspecifiedError;
                    continue;
                }
                if (options.NoLocal && v5)
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
            if (CheckSubscribeSecurity(filter, topicFilter, session) is var denied and not ReasonCode.Success)
            {
                codes[i] = v5 ? denied : ReasonCode.UnspecifiedError;
                continue;
            }
            var qos = options.QoS > _broker.Options.MaximumQoS ? _broker.Options.MaximumQoS : options.QoS;
            var subscription = new Subscription(session, filter, topicFilter, options with { QoS = qos }, subscriptionId, shareName);
            var existed = session.GetSubscription(filter) is not null;
            // Replaces an existing subscription with the same filter, keeping no duplicate [MQTT-3.8.4-3].
            _broker.Index.Add(subscription);
            session.SetSubscription(subscription);
            codes[i] = (ReasonCode)(byte)qos;
            (granted ??= []).Add((subscription, existed));
        }
        SendControl(new SubAckPacket { PacketId = subscribe.PacketId, ReasonCodes = codes });
        if (granted is null || !_broker.Options.RetainAvailable)
        {
            return null;
        }
        MqttConnection? congested = null;
        // Retained messages after the SUBACK (control lane goes first), never for shared subscriptions.
        var now = _broker.Time.GetTimestamp();
        foreach (var (s, existed) in granted)
        {
            if (s.ShareName is not null
                || s.Options.RetainHandling == RetainHandling.DoNotSend
                || (s.Options.RetainHandling == RetainHandling.SendAtSubscribeIfNew && existed))
            {
                continue;
            }
            // All of them, past the queue limits by their own number if need be (Session.Deliver, extraRoom).
            var matching = _broker.Retained.Matching(s.TopicFilter).ToList();
            foreach (var message in matching)
            {
                if (message.IsExpired(_broker.Time, now) || _authorization?.CanReceive(message.Topic) == false)
                {
                    continue;
                }
                var qos = message.QoS < s.Options.QoS ? message.QoS : s.Options.QoS;
                // Retained messages sent because of a subscription carry RETAIN 1 [MQTT-3.3.1-8].
                if (session.Deliver(message, qos, retain: true, s.IdArray, extraRoom: matching.Count).Congested is not null)
                {
                    congested = this;
                }
            }
        }
        return congested;
    }

    private void HandleUnsubscribe(UnsubscribePacket unsubscribe)
    {
        var session = _session!;
        var codes = new ReasonCode[unsubscribe.TopicFilters.Count];
        for (var i = 0; i < codes.Length; i++)
        {
            var filter = unsubscribe.TopicFilters[i];
            var removed = session.RemoveSubscription(filter);
            if (removed is not null)
            {
                _broker.Index.Remove(removed);
            }
            codes[i] = removed is not null ? ReasonCode.Success
                : TopicValidator.IsValidTopicFilter(filter) || TopicValidator.IsSharedSubscription(filter, out _, out _) ? ReasonCode.NoSubscriptionExisted
                : ReasonCode.TopicFilterInvalid;
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-5].
        SendControl(new UnsubAckPacket { PacketId = unsubscribe.PacketId, ReasonCodes = codes });
    }
}
