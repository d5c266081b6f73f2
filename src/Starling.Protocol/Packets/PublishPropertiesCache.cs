namespace Starling.Protocol;

/// <summary>
/// The property bytes of the last MQTT 5 PUBLISH a receiver decoded, with the properties decoded from them, so that
/// a client repeating its properties (a content type, a topic alias, the same user properties) costs no decoding and
/// no allocation (<see cref="PacketDecoder.DecodePublish"/>). One per connection, used by its read loop only.
/// The cached <see cref="Properties"/> is shared by every PUBLISH decoded from equal bytes: readers must treat it as
/// immutable.
/// </summary>
public sealed class PublishPropertiesCache
{
    /// <summary>Property sections longer than this are decoded every time and not cached.</summary>
    public const int MaxBytes = 256;

    /// <summary>The property bytes (after the length) last decoded; null before the first.</summary>
    public byte[]? Bytes { get; private set; }

    /// <summary>What <see cref="Bytes"/> decode to.</summary>
    public MqttProperties? Properties { get; private set; }

    /// <summary>
    /// A value the receiver derived from <see cref="Properties"/> (the broker's forwarded copy without the topic alias),
    /// cleared whenever the cached properties change.
    /// </summary>
    public object? Derived { get; set; }

    internal void Set(byte[] bytes, MqttProperties? properties)
    {
        Bytes = bytes;
        Properties = properties;
        Derived = null;
    }
}
