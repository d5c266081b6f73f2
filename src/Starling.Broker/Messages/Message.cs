using System.Buffers;
using System.Numerics;
using System.Text;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// One application message as published: copied once out of the receive buffer, immutable while anyone holds it and
/// shared by every subscriber that gets it (rule 1 of docs/architecture.md).
/// <para>
/// Lifetime (docs/architecture.md, "Message pooling"): a message is either <em>pinned</em> (owned by the GC: every
/// message the broker makes itself, every retained one, and any message once a holder that is not reference-counted
/// keeps it) or <em>pooled</em> (rented by <see cref="Rent"/> for a publish, with its payload in an
/// <see cref="ArrayPool{T}"/> array). A pooled message counts its holders: the publisher's read loop while it routes,
/// each outbound-queue entry until the writer has encoded it, and each inflight-table entry until its PUBACK/PUBCOMP.
/// The last <see cref="Release"/> returns it and its payload to the pools. Every other place that keeps a message
/// (session queues, the store, shared-group redistribution, retained, snapshots) calls <see cref="Pin"/> first, while
/// it still holds a counted reference; a pinned message is never returned. So a missed release only leaves garbage
/// for the GC, while a premature one cannot happen on a path that pins.
/// </para>
/// </summary>
internal sealed class Message
{
    // Payloads above this are not pooled: a pool would keep such large arrays alive long after a burst.
    private const int MaxPooledPayload = 64 * 1024;
    // Payload buffers up to this size stay with their Message in the MessagePool (at most 4096 x 1 KiB); larger
    // ones come from ArrayPool<byte>.Shared. One pool for both keeps a warm publish path free of allocations even
    // when many messages are in flight at once, which ArrayPool's small per-core stacks do not cover.
    private const int KeptBufferSize = 1024;

    // Counted holders while pooled (see the class remarks); meaningless once pinned.
    private int _refs;
    // True while the message is pooled and not pinned: only then do AddRef/Release count. Cleared once (Pin) and set
    // again only by Rent, on a message nobody references any more.
    private volatile bool _counted;
    // The array behind Payload of a pooled message: kept across reuse (small) or rented from ArrayPool (large).
    private byte[]? _buffer;
    private bool _bufferRented;
    // The pool that rented this message out and gets it back on the last release; null for GC-owned messages.
    private MessagePool? _pool;

    public Message(string topic, byte[] payload, QualityOfService qos, bool retain, MqttProperties? properties,
        string? publisherClientId, long createdTimestamp)
        : this(topic, Encoding.UTF8.GetBytes(topic), payload, qos, retain, properties, publisherClientId, createdTimestamp)
    {
    }

    /// <summary>A pinned message whose topic came from the decoder: its bytes are shared, not encoded again.</summary>
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
        AccountedSize = SizeOf(topicUtf8, payload.Length, properties);
    }

    // For the pool: every field is set by Rent.
    private Message()
    {
        Topic = string.Empty;
        TopicUtf8 = [];
    }

    /// <summary>
    /// A pooled message holding one counted reference, the caller's (released once routing is done), with a copy of
    /// <paramref name="payload"/>. Large payloads get a pinned message instead (AddRef/Release are then no-ops).
    /// </summary>
    public static Message Rent(MessagePool pool, TopicName topic, in ReadOnlySequence<byte> payload, QualityOfService qos, bool retain,
        MqttProperties? properties, string? publisherClientId, long createdTimestamp)
    {
        if (payload.Length > MaxPooledPayload)
        {
            return new Message(topic, payload.ToArray(), qos, retain, properties, publisherClientId, createdTimestamp);
        }
        var length = (int)payload.Length;
        var message = pool.TryTake() ?? new Message();
        message._pool = pool;
        var buffer = message.TakeBuffer(length);
        payload.CopyTo(buffer);
        message.Topic = topic.Name;
        message.TopicUtf8 = topic.Utf8;
        message.Payload = new ReadOnlyMemory<byte>(buffer, 0, length);
        message.QoS = qos;
        message.Retain = retain;
        message.Properties = properties;
        message.PublisherClientId = publisherClientId;
        message.CreatedTimestamp = createdTimestamp;
        message.AccountedSize = SizeOf(topic.Utf8, length, properties);
        message.Stored = null;
        message._refs = 1;
        message._counted = true;
        return message;
    }

    public string Topic { get; private set; }

    /// <summary>
    /// The topic pre-encoded for every outbound PUBLISH. Read-only by convention: it may be the publisher's cached
    /// <see cref="TopicName.Utf8"/>, shared by every message it published to this topic.
    /// </summary>
    public byte[] TopicUtf8 { get; private set; }

    /// <summary>The payload; for a pooled message valid only while the reader holds a counted reference or a pin.</summary>
    public ReadOnlyMemory<byte> Payload { get; private set; }

    /// <summary>QoS as published (a subscriber gets min(this, granted)).</summary>
    public QualityOfService QoS { get; private set; }

    /// <summary>The RETAIN flag as published.</summary>
    public bool Retain { get; private set; }

    /// <summary>
    /// The v5 properties forwarded to subscribers (payload format, expiry, content type, response topic, correlation
    /// data, user properties); never a topic alias or subscription identifiers, which are per connection.
    /// </summary>
    public MqttProperties? Properties { get; private set; }

    /// <summary>Client id of the publisher (for No Local); null for messages the broker made itself.</summary>
    public string? PublisherClientId { get; private set; }

    /// <summary><see cref="TimeProvider.GetTimestamp"/> when the broker received it, for message expiry.</summary>
    public long CreatedTimestamp { get; private set; }

    /// <summary>
    /// The bytes this message costs every byte limit (retained, queued in memory and in the store, the store writer's
    /// queue): topic + payload + the encoded size of its properties. Computed once when the message is made, so a
    /// publisher cannot get around a limit with a 1-byte payload and megabytes of user properties, and every add and
    /// subtract of one message uses the same number.
    /// </summary>
    public long AccountedSize { get; private set; }

    /// <summary>The stored form, once the message has been written to the store (set once, see BrokerStorage.ToStored).</summary>
    public Storage.StoredMessage? Stored;

    /// <summary>True while the message can still go back to the pool (for tests and assertions).</summary>
    public bool IsCounted => _counted;

    /// <summary>A new counted holder (an outbound-queue or inflight entry); the caller already holds a reference.</summary>
    public void AddRef()
    {
        if (_counted)
        {
            Interlocked.Increment(ref _refs);
        }
    }

    /// <summary>A counted holder is done with the message; the last one returns it to the pool.</summary>
    public void Release()
    {
        if (_counted && Interlocked.Decrement(ref _refs) == 0 && _counted)
        {
            Return();
        }
    }

    /// <summary>
    /// Makes the message GC-owned for good, before a holder that does not count keeps it. The caller must hold a
    /// counted reference (or be the router), so the count cannot reach zero meanwhile.
    /// </summary>
    public void Pin() => _counted = false;

    /// <summary>
    /// A buffer of at least <paramref name="length"/> bytes for the next payload. The kept one is reused only while it
    /// is at most 4x (or 64 B over) the payload, so a pooled message that ends up pinned (queued for long) never holds
    /// much more memory than its payload.
    /// </summary>
    private byte[] TakeBuffer(int length)
    {
        if (length > KeptBufferSize)
        {
            _bufferRented = true;
            return _buffer = ArrayPool<byte>.Shared.Rent(length);
        }
        _bufferRented = false;
        if (_buffer is not { } kept || kept.Length < length || kept.Length > Math.Max(4 * length, 64))
        {
            _buffer = kept = length == 0 ? [] : new byte[Math.Min(KeptBufferSize, Math.Max(64, (int)BitOperations.RoundUpToPowerOf2((uint)length)))];
        }
        return kept;
    }

    private void Return()
    {
        _counted = false;
        if (_bufferRented)
        {
            ArrayPool<byte>.Shared.Return(_buffer!);
            _buffer = null;
            _bufferRented = false;
        }
        Payload = default;
        Properties = null;
        PublisherClientId = null;
        Stored = null;
        _pool?.Return(this);
    }

    /// <summary>Topic + payload + encoded properties (no allocation: sizes are read from the fields).</summary>
    private static long SizeOf(byte[] topicUtf8, int payloadLength, MqttProperties? properties)
        => topicUtf8.Length + (long)payloadLength + (properties is null ? 0 : MqttProperties.GetEncodedSize(properties));

    /// <summary>The payload as an array of exactly its length (the array itself when it is one, else a copy).</summary>
    public byte[] PayloadArray()
        => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(Payload, out var segment)
           && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : Payload.ToArray();

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
