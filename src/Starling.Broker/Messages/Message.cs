using System.Text;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// One application message as published: copied once out of the receive buffer, immutable afterwards and shared by
/// every subscriber that gets it (rule 1 of docs/architecture.md). The payload is a plain array owned by the GC
/// rather than a ref-counted pooled buffer: subscribers and queues may hold it for any time, and a gen0 array is
/// cheaper than the bookkeeping a pool would need.
/// </summary>
internal sealed class Message
{
    public Message(string topic, byte[] payload, QualityOfService qos, bool retain, MqttProperties? properties,
        string? publisherClientId, long createdTimestamp)
        : this(topic, Encoding.UTF8.GetBytes(topic), payload, qos, retain, properties, publisherClientId, createdTimestamp)
    {
    }

    /// <summary>A published message whose topic came from the decoder: its bytes are shared, not encoded again.</summary>
    public Message(TopicName topic, byte[] payload, QualityOfService qos, bool retain, MqttProperties? properties,
        string? publisherClientId, long createdTimestamp)
        : this(topic.Name, topic.Utf8, payload, qos, retain, properties, publisherClientId, createdTimestamp)
    {
    }

    private Message(string topic, byte[] topicUtf8, byte[] payload, QualityOfService qos, bool retain, MqttProperties? properties,
        string? publisherClientId, long createdTimestamp)
    {
        Topic = topic;
        TopicUtf8 = topicUtf8;
        Payload = payload;
        QoS = qos;
        Retain = retain;
        Properties = properties;
        PublisherClientId = publisherClientId;
        CreatedTimestamp = createdTimestamp;
    }

    public string Topic { get; }

    /// <summary>
    /// The topic pre-encoded for every outbound PUBLISH. Read-only by convention: it may be the publisher's cached
    /// <see cref="TopicName.Utf8"/>, shared by every message it published to this topic.
    /// </summary>
    public byte[] TopicUtf8 { get; }

    public byte[] Payload { get; }

    /// <summary>QoS as published (a subscriber gets min(this, granted)).</summary>
    public QualityOfService QoS { get; }

    /// <summary>The RETAIN flag as published.</summary>
    public bool Retain { get; }

    /// <summary>
    /// The v5 properties forwarded to subscribers (payload format, expiry, content type, response topic, correlation
    /// data, user properties); never a topic alias or subscription identifiers, which are per connection.
    /// </summary>
    public MqttProperties? Properties { get; }

    /// <summary>Client id of the publisher (for No Local); null for messages the broker made itself.</summary>
    public string? PublisherClientId { get; }

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the broker received it, for message expiry.</summary>
    public long CreatedTimestamp { get; }

    /// <summary>The stored form, once the message has been written to the store (set once, see BrokerStorage.ToStored).</summary>
    public Storage.StoredMessage? Stored;

    /// <summary>True once the Message Expiry Interval has passed [MQTT-3.3.2-5].</summary>
    public bool IsExpired(TimeProvider time, long now)
        => Properties?.MessageExpiryInterval is uint interval
           && time.GetElapsedTime(CreatedTimestamp, now) >= TimeSpan.FromSeconds(interval);

    /// <summary>Seconds of life left, for the forwarded Message Expiry Interval [MQTT-3.3.2-6]; null when none was set.</summary>
    public uint? RemainingExpiry(TimeProvider time, long now)
    {
        if (Properties?.MessageExpiryInterval is not uint interval)
        {
            return null;
        }
        var waited = (uint)Math.Min(uint.MaxValue, time.GetElapsedTime(CreatedTimestamp, now).TotalSeconds);
        return interval > waited ? interval - waited : 0;
    }
}
