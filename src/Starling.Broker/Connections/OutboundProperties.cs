using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The properties of one outbound PUBLISH, filled and encoded at once and never kept, so one object per thread serves
/// every delivery: the writer loop and <see cref="ConnectionWriter.Fits"/> (a publisher's thread, under a session lock)
/// each fill and read it without an await or another fill in between.
/// </summary>
internal static class OutboundProperties
{
    [ThreadStatic] private static MqttProperties? t_scratch;

    /// <summary>
    /// The properties of an outbound PUBLISH for a v5 client: the message's forwarded ones, with the expiry reduced by
    /// the time it waited [MQTT-3.3.2-6] and this subscriber's subscription identifiers [MQTT-3.3.4-3]. Null for older
    /// clients and for messages without any (the common case). Otherwise the per-thread scratch object: valid until
    /// this thread's next call, and read-only for the caller except <see cref="MqttProperties.TopicAlias"/>.
    /// </summary>
    public static MqttProperties? For(ProtocolVersion version, in Delivery d, long now, TimeProvider time)
    {
        if (version != ProtocolVersion.V500)
        {
            return null;
        }
        var source = d.Message.Properties;
        if (source is null && d.SubscriptionIds is null)
        {
            return null;
        }
        var p = Cleared();
        if (source is not null)
        {
            // Only what a PUBLISH may carry: the encoder writes nothing else in this context. The lists and arrays
            // are the message's own, shared read-only (a Message never changes after it is built).
            p.PayloadFormatIndicator = source.PayloadFormatIndicator;
            p.MessageExpiryInterval = source.MessageExpiryInterval is not null && now != 0
                ? d.Message.RemainingExpiry(time, now)
                : source.MessageExpiryInterval;
            p.ContentType = source.ContentType;
            p.ResponseTopic = source.ResponseTopic;
            p.CorrelationData = source.CorrelationData;
            p.UserProperties = source.UserProperties;
        }
        if (d.SubscriptionIds is { } ids)
        {
            p.SubscriptionIdentifiers!.AddRange(ids);
        }
        return p;
    }

    /// <summary>This thread's scratch PUBLISH properties with every field empty.</summary>
    public static MqttProperties Cleared()
    {
        var p = t_scratch ??= new MqttProperties { SubscriptionIdentifiers = [] };
        p.PayloadFormatIndicator = null;
        p.MessageExpiryInterval = null;
        p.ContentType = null;
        p.ResponseTopic = null;
        p.CorrelationData = null;
        p.UserProperties = null;
        p.TopicAlias = null;
        p.SubscriptionIdentifiers!.Clear();
        return p;
    }
}
