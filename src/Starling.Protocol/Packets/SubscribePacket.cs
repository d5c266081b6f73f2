namespace Starling.Protocol;

/// <summary>SUBSCRIBE (3.8).</summary>
public sealed class SubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Subscribe;
    public ushort PacketId { get; set; }
    public List<TopicSubscription> Subscriptions { get; set; } = [];
    /// <summary>5.0: at most one Subscription Identifier, and user properties.</summary>
    public MqttProperties? Properties { get; set; }
}

/// <summary>One topic filter of a SUBSCRIBE with its options (the options byte of 3.8.3.1).</summary>
public sealed record TopicSubscription(string TopicFilter, SubscriptionOptions Options);

/// <summary>The subscription options byte. Older clients only set <see cref="QoS"/>.</summary>
public readonly record struct SubscriptionOptions(
    QualityOfService QoS,
    bool NoLocal = false,
    bool RetainAsPublished = false,
    RetainHandling RetainHandling = RetainHandling.SendAtSubscribe);

/// <summary>Retain Handling subscription option (5.0, 3.8.3.1).</summary>
public enum RetainHandling : byte
{
    SendAtSubscribe = 0,
    SendAtSubscribeIfNew = 1,
    DoNotSend = 2,
}
