namespace Starling.Protocol;

/// <summary>
/// The MQTT 5 properties of one packet. A null field means "absent". Packets of 3.1/3.1.1 clients carry none, and a
/// v5 packet without properties carries a null <see cref="MqttProperties"/> reference rather than an empty object, so
/// the common case allocates nothing.
/// </summary>
public sealed class MqttProperties
{
    public byte? PayloadFormatIndicator { get; set; }
    public uint? MessageExpiryInterval { get; set; }
    public string? ContentType { get; set; }
    public string? ResponseTopic { get; set; }
    public byte[]? CorrelationData { get; set; }
    /// <summary>Several on a PUBLISH to a client (one per matching subscription); at most one on SUBSCRIBE.</summary>
    public List<uint>? SubscriptionIdentifiers { get; set; }
    public uint? SessionExpiryInterval { get; set; }
    public string? AssignedClientIdentifier { get; set; }
    public ushort? ServerKeepAlive { get; set; }
    public string? AuthenticationMethod { get; set; }
    public byte[]? AuthenticationData { get; set; }
    public byte? RequestProblemInformation { get; set; }
    public uint? WillDelayInterval { get; set; }
    public byte? RequestResponseInformation { get; set; }
    public string? ResponseInformation { get; set; }
    public string? ServerReference { get; set; }
    public string? ReasonString { get; set; }
    public ushort? ReceiveMaximum { get; set; }
    public ushort? TopicAliasMaximum { get; set; }
    public ushort? TopicAlias { get; set; }
    public byte? MaximumQoS { get; set; }
    public byte? RetainAvailable { get; set; }
    public List<UserProperty>? UserProperties { get; set; }
    public uint? MaximumPacketSize { get; set; }
    public byte? WildcardSubscriptionAvailable { get; set; }
    public byte? SubscriptionIdentifierAvailable { get; set; }
    public byte? SharedSubscriptionAvailable { get; set; }

    /// <summary>
    /// Encoded size in bytes of the properties a PUBLISH may carry (table 2-4), without the length prefix: what the
    /// broker counts against its byte limits for a message's properties. Allocates nothing.
    /// </summary>
    public static int GetEncodedSize(MqttProperties properties)
        => PropertiesCodec.GetContentSize(properties, PropertyContext.Publish);

    /// <summary>A shallow copy: lists are copied, byte arrays and strings (immutable by convention) are shared.</summary>
    public MqttProperties Clone()
    {
        var copy = (MqttProperties)MemberwiseClone();
        copy.SubscriptionIdentifiers = SubscriptionIdentifiers is null ? null : [.. SubscriptionIdentifiers];
        copy.UserProperties = UserProperties is null ? null : [.. UserProperties];
        return copy;
    }
}
