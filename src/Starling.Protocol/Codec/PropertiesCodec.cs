using System.Buffers;

namespace Starling.Protocol;

/// <summary>
/// MQTT 5.0 properties (2.2.2): a Variable Byte Integer length, then identifier/value pairs. Decoding enforces table 2-4
/// (an identifier unknown or not allowed on the packet is MalformedPacket), duplicates of single-valued properties
/// (ProtocolError) and the value ranges the standard makes a ProtocolError. Encoding writes, in identifier order, only
/// the properties table 2-4 allows on the packet being written, so a properties object can be reused across packets
/// (a Will's properties as a PUBLISH's) without producing a malformed packet; a null object is written as length 0.
/// </summary>
internal static partial class PropertiesCodec
{
    private const PropertyContext PubAcks = PropertyContext.PubAck | PropertyContext.PubRec | PropertyContext.PubRel | PropertyContext.PubComp;
    private const PropertyContext AllPackets = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Publish | PropertyContext.Will
        | PubAcks | PropertyContext.Subscribe | PropertyContext.SubAck | PropertyContext.Unsubscribe | PropertyContext.UnsubAck
        | PropertyContext.Disconnect | PropertyContext.Auth;
    private const PropertyContext Message = PropertyContext.Publish | PropertyContext.Will;

    /// <summary>Table 2-4, indexed by identifier; None for identifiers the standard does not define.</summary>
    private static readonly PropertyContext[] s_allowed = BuildAllowedTable();

    private static PropertyContext[] BuildAllowedTable()
    {
        var t = new PropertyContext[(int)PropertyId.SharedSubscriptionAvailable + 1];
        t[(int)PropertyId.PayloadFormatIndicator] = Message;
        t[(int)PropertyId.MessageExpiryInterval] = Message;
        t[(int)PropertyId.ContentType] = Message;
        t[(int)PropertyId.ResponseTopic] = Message;
        t[(int)PropertyId.CorrelationData] = Message;
        t[(int)PropertyId.SubscriptionIdentifier] = PropertyContext.Publish | PropertyContext.Subscribe;
        t[(int)PropertyId.SessionExpiryInterval] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Disconnect;
        t[(int)PropertyId.AssignedClientIdentifier] = PropertyContext.ConnAck;
        t[(int)PropertyId.ServerKeepAlive] = PropertyContext.ConnAck;
        t[(int)PropertyId.AuthenticationMethod] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Auth;
        t[(int)PropertyId.AuthenticationData] = PropertyContext.Connect | PropertyContext.ConnAck | PropertyContext.Auth;
        t[(int)PropertyId.RequestProblemInformation] = PropertyContext.Connect;
        t[(int)PropertyId.WillDelayInterval] = PropertyContext.Will;
        t[(int)PropertyId.RequestResponseInformation] = PropertyContext.Connect;
        t[(int)PropertyId.ResponseInformation] = PropertyContext.ConnAck;
        t[(int)PropertyId.ServerReference] = PropertyContext.ConnAck | PropertyContext.Disconnect;
        t[(int)PropertyId.ReasonString] = PropertyContext.ConnAck | PubAcks | PropertyContext.SubAck | PropertyContext.UnsubAck
            | PropertyContext.Disconnect | PropertyContext.Auth;
        t[(int)PropertyId.ReceiveMaximum] = PropertyContext.Connect | PropertyContext.ConnAck;
        t[(int)PropertyId.TopicAliasMaximum] = PropertyContext.Connect | PropertyContext.ConnAck;
        t[(int)PropertyId.TopicAlias] = PropertyContext.Publish;
        t[(int)PropertyId.MaximumQoS] = PropertyContext.ConnAck;
        t[(int)PropertyId.RetainAvailable] = PropertyContext.ConnAck;
        t[(int)PropertyId.UserProperty] = AllPackets;
        t[(int)PropertyId.MaximumPacketSize] = PropertyContext.Connect | PropertyContext.ConnAck;
        t[(int)PropertyId.WildcardSubscriptionAvailable] = PropertyContext.ConnAck;
        t[(int)PropertyId.SubscriptionIdentifierAvailable] = PropertyContext.ConnAck;
        t[(int)PropertyId.SharedSubscriptionAvailable] = PropertyContext.ConnAck;
        return t;
    }

    /// <summary>True when table 2-4 allows <paramref name="id"/> in <paramref name="context"/>.</summary>
    public static bool IsAllowed(PropertyId id, PropertyContext context)
        => (uint)id < (uint)s_allowed.Length && (s_allowed[(int)id] & context) != 0;

    // ---------------------------------------------------------------- decode

    /// <summary>
    /// User properties decoded per property block (packet or will) at most; past it the decoder stops with 0x97 Quota
    /// exceeded before decoding the rest. Far above what applications send (Mosquitto's tests use a handful).
    /// </summary>
    public const int MaxUserProperties = 1024;

    /// <summary>
    /// Reads a property length and the properties; null when the length is 0. The user properties of the block may take
    /// at most <paramref name="maxUserPropertyBytes"/> bytes on the wire (identifier, length prefixes, name and value):
    /// each string's length prefix is checked against the budget before the string is read, so an oversized block is
    /// refused with 0x97 before it is materialised.
    /// </summary>
    public static MqttProperties? Read(ref SequenceReader<byte> reader, PropertyContext context, int maxUserPropertyBytes = int.MaxValue)
    {
        var length = MqttReader.ReadVariableByteInteger(ref reader);
        if (length == 0)
        {
            return null;
        }
        if (reader.Remaining < length)
        {
            throw Errors.Malformed("property length runs past the end of the packet");
        }
        var inner = new SequenceReader<byte>(reader.Sequence.Slice(reader.Position, length));
        reader.Advance(length);

        var p = new MqttProperties();
        ulong seen = 0;
        var userProperties = 0;
        long userPropertyBytes = 0;
        while (!inner.End)
        {
            // The identifier is a Variable Byte Integer (2.2.2.2); every defined one fits in a single byte.
            var raw = MqttReader.ReadVariableByteInteger(ref inner);
            if (raw >= s_allowed.Length || (s_allowed[raw] & context) == 0)
            {
                throw Errors.Malformed($"property 0x{raw:X2} is unknown or not allowed in {context} (table 2-4)");
            }
            var id = (PropertyId)raw;
            if (id == PropertyId.UserProperty && ++userProperties > MaxUserProperties)
            {
                // An empty user property costs 5 bytes on the wire and a list entry when decoded: without a cap, one
                // 16 MiB packet would become millions of entries. No normative limit exists; 0x97 is "an implementation
                // or administrative imposed limit has been exceeded".
                throw new MqttProtocolException(ReasonCode.QuotaExceeded, $"more than {MaxUserProperties} user properties in one packet");
            }
            var repeatable = id == PropertyId.UserProperty || (id == PropertyId.SubscriptionIdentifier && context == PropertyContext.Publish);
            if (!repeatable)
            {
                var bit = 1UL << raw;
                if ((seen & bit) != 0)
                {
                    throw Errors.Protocol($"property {id} included more than once");
                }
                seen |= bit;
            }
            if (id == PropertyId.UserProperty)
            {
                ReadUserProperty(ref inner, p, ref userPropertyBytes, maxUserPropertyBytes);
                continue;
            }
            ReadValue(ref inner, id, p);
        }
        return p;
    }

    private static void ReadValue(ref SequenceReader<byte> r, PropertyId id, MqttProperties p)
    {
        switch (id)
        {
            case PropertyId.PayloadFormatIndicator:
                p.PayloadFormatIndicator = ReadBoolean(ref r, id);
                break;
            case PropertyId.MessageExpiryInterval:
                p.MessageExpiryInterval = MqttReader.ReadUInt32(ref r);
                break;
            case PropertyId.ContentType:
                p.ContentType = MqttReader.ReadString(ref r);
                break;
            case PropertyId.ResponseTopic:
                var responseTopic = MqttReader.ReadString(ref r);
                p.ResponseTopic = TopicValidator.IsValidTopicName(responseTopic)
                    ? responseTopic
                    : throw Errors.Malformed("Response Topic is not a valid topic name [MQTT-3.3.2-14]");
                break;
            case PropertyId.CorrelationData:
                p.CorrelationData = MqttReader.ReadBinary(ref r);
                break;
            case PropertyId.SubscriptionIdentifier:
                var subscriptionId = MqttReader.ReadVariableByteInteger(ref r);
                if (subscriptionId == 0)
                {
                    throw Errors.Protocol("Subscription Identifier 0 (3.8.2.1.2)");
                }
                (p.SubscriptionIdentifiers ??= []).Add((uint)subscriptionId);
                break;
            case PropertyId.SessionExpiryInterval:
                p.SessionExpiryInterval = MqttReader.ReadUInt32(ref r);
                break;
            case PropertyId.AssignedClientIdentifier:
                p.AssignedClientIdentifier = MqttReader.ReadString(ref r);
                break;
            case PropertyId.ServerKeepAlive:
                p.ServerKeepAlive = MqttReader.ReadUInt16(ref r);
                break;
            case PropertyId.AuthenticationMethod:
                p.AuthenticationMethod = MqttReader.ReadString(ref r);
                break;
            case PropertyId.AuthenticationData:
                p.AuthenticationData = MqttReader.ReadBinary(ref r);
                break;
            case PropertyId.RequestProblemInformation:
                p.RequestProblemInformation = ReadBoolean(ref r, id);
                break;
            case PropertyId.WillDelayInterval:
                p.WillDelayInterval = MqttReader.ReadUInt32(ref r);
                break;
            case PropertyId.RequestResponseInformation:
                p.RequestResponseInformation = ReadBoolean(ref r, id);
                break;
            case PropertyId.ResponseInformation:
                p.ResponseInformation = MqttReader.ReadString(ref r);
                break;
            case PropertyId.ServerReference:
                p.ServerReference = MqttReader.ReadString(ref r);
                break;
            case PropertyId.ReasonString:
                p.ReasonString = MqttReader.ReadString(ref r);
                break;
            case PropertyId.ReceiveMaximum:
                p.ReceiveMaximum = ReadNonZeroUInt16(ref r, id);
                break;
            case PropertyId.TopicAliasMaximum:
                p.TopicAliasMaximum = MqttReader.ReadUInt16(ref r);
                break;
            case PropertyId.TopicAlias:
                p.TopicAlias = ReadNonZeroUInt16(ref r, id); // [MQTT-3.3.2-8]
                break;
            case PropertyId.MaximumQoS:
                p.MaximumQoS = ReadBoolean(ref r, id);
                break;
            case PropertyId.RetainAvailable:
                p.RetainAvailable = ReadBoolean(ref r, id);
                break;
            case PropertyId.MaximumPacketSize:
                var max = MqttReader.ReadUInt32(ref r);
                p.MaximumPacketSize = max != 0 ? max : throw Errors.Protocol("Maximum Packet Size 0");
                break;
            case PropertyId.WildcardSubscriptionAvailable:
                p.WildcardSubscriptionAvailable = ReadBoolean(ref r, id);
                break;
            case PropertyId.SubscriptionIdentifierAvailable:
                p.SubscriptionIdentifierAvailable = ReadBoolean(ref r, id);
                break;
            case PropertyId.SharedSubscriptionAvailable:
                p.SharedSubscriptionAvailable = ReadBoolean(ref r, id);
                break;
            default:
                throw Errors.Malformed($"property 0x{(byte)id:X2} is unknown");
        }
    }

    /// <summary>A byte property whose only legal values are 0 and 1; anything else is a ProtocolError.</summary>
    private static byte ReadBoolean(ref SequenceReader<byte> r, PropertyId id)
    {
        var b = MqttReader.ReadByte(ref r);
        return b <= 1 ? b : throw Errors.Protocol($"{id} must be 0 or 1, was {b}");
    }

    private static ushort ReadNonZeroUInt16(ref SequenceReader<byte> r, PropertyId id)
    {
        var v = MqttReader.ReadUInt16(ref r);
        return v != 0 ? v : throw Errors.Protocol($"{id} 0");
    }

    // ---------------------------------------------------------------- encode

    /// <summary>Encoded size of the properties, Variable Byte Integer length prefix included (1 for none).</summary>
    public static int GetSize(MqttProperties? p, PropertyContext context)
    {
        var content = GetContentSize(p, context);
        return VariableByteInteger.GetSize(content) + content;
    }

    /// <summary>Encoded size of the properties without the length prefix: 0 when there is nothing to write.</summary>
    public static int GetContentSize(MqttProperties? p, PropertyContext context)
    {
        if (p is null)
        {
            return 0;
        }
        var size = 0;
        if (p.PayloadFormatIndicator.HasValue && IsAllowed(PropertyId.PayloadFormatIndicator, context)) size += 2;
        if (p.MessageExpiryInterval.HasValue && IsAllowed(PropertyId.MessageExpiryInterval, context)) size += 5;
        if (p.ContentType is not null && IsAllowed(PropertyId.ContentType, context)) size += 1 + SpanWriter.StringSize(p.ContentType);
        if (p.ResponseTopic is not null && IsAllowed(PropertyId.ResponseTopic, context)) size += 1 + SpanWriter.StringSize(p.ResponseTopic);
        if (p.CorrelationData is not null && IsAllowed(PropertyId.CorrelationData, context)) size += 1 + SpanWriter.BinarySize(p.CorrelationData.Length);
        if (p.SubscriptionIdentifiers is { Count: > 0 } ids && IsAllowed(PropertyId.SubscriptionIdentifier, context))
        {
            if (context == PropertyContext.Subscribe && ids.Count > 1)
            {
                throw new ArgumentException("a SUBSCRIBE carries at most one Subscription Identifier", nameof(p));
            }
            for (var i = 0; i < ids.Count; i++)
            {
                size += 1 + VariableByteInteger.GetSize(checked((int)ids[i]));
            }
        }
        if (p.SessionExpiryInterval.HasValue && IsAllowed(PropertyId.SessionExpiryInterval, context)) size += 5;
        if (p.AssignedClientIdentifier is not null && IsAllowed(PropertyId.AssignedClientIdentifier, context)) size += 1 + SpanWriter.StringSize(p.AssignedClientIdentifier);
        if (p.ServerKeepAlive.HasValue && IsAllowed(PropertyId.ServerKeepAlive, context)) size += 3;
        if (p.AuthenticationMethod is not null && IsAllowed(PropertyId.AuthenticationMethod, context)) size += 1 + SpanWriter.StringSize(p.AuthenticationMethod);
        if (p.AuthenticationData is not null && IsAllowed(PropertyId.AuthenticationData, context)) size += 1 + SpanWriter.BinarySize(p.AuthenticationData.Length);
        if (p.RequestProblemInformation.HasValue && IsAllowed(PropertyId.RequestProblemInformation, context)) size += 2;
        if (p.WillDelayInterval.HasValue && IsAllowed(PropertyId.WillDelayInterval, context)) size += 5;
        if (p.RequestResponseInformation.HasValue && IsAllowed(PropertyId.RequestResponseInformation, context)) size += 2;
        if (p.ResponseInformation is not null && IsAllowed(PropertyId.ResponseInformation, context)) size += 1 + SpanWriter.StringSize(p.ResponseInformation);
        if (p.ServerReference is not null && IsAllowed(PropertyId.ServerReference, context)) size += 1 + SpanWriter.StringSize(p.ServerReference);
        if (p.ReasonString is not null && IsAllowed(PropertyId.ReasonString, context)) size += 1 + SpanWriter.StringSize(p.ReasonString);
        if (p.ReceiveMaximum.HasValue && IsAllowed(PropertyId.ReceiveMaximum, context)) size += 3;
        if (p.TopicAliasMaximum.HasValue && IsAllowed(PropertyId.TopicAliasMaximum, context)) size += 3;
        if (p.TopicAlias.HasValue && IsAllowed(PropertyId.TopicAlias, context)) size += 3;
        if (p.MaximumQoS.HasValue && IsAllowed(PropertyId.MaximumQoS, context)) size += 2;
        if (p.RetainAvailable.HasValue && IsAllowed(PropertyId.RetainAvailable, context)) size += 2;
        if (p.UserProperties is { Count: > 0 } users)
        {
            for (var i = 0; i < users.Count; i++)
            {
                size += 1 + SpanWriter.StringSize(users[i].Name) + SpanWriter.StringSize(users[i].Value);
            }
        }
        if (p.MaximumPacketSize.HasValue && IsAllowed(PropertyId.MaximumPacketSize, context)) size += 5;
        if (p.WildcardSubscriptionAvailable.HasValue && IsAllowed(PropertyId.WildcardSubscriptionAvailable, context)) size += 2;
        if (p.SubscriptionIdentifierAvailable.HasValue && IsAllowed(PropertyId.SubscriptionIdentifierAvailable, context)) size += 2;
        if (p.SharedSubscriptionAvailable.HasValue && IsAllowed(PropertyId.SharedSubscriptionAvailable, context)) size += 2;
        return size;
    }

    /// <summary>Writes the length prefix and the properties; <paramref name="contentSize"/> is from <see cref="GetContentSize"/>.</summary>
    public static void Write(ref SpanWriter w, MqttProperties? p, PropertyContext context, int contentSize)
    {
        w.WriteVariableByteInteger(contentSize);
        if (p is null || contentSize == 0)
        {
            return;
        }
        if (p.PayloadFormatIndicator is { } pfi && IsAllowed(PropertyId.PayloadFormatIndicator, context)) WriteByte(ref w, PropertyId.PayloadFormatIndicator, pfi);
        if (p.MessageExpiryInterval is { } mei && IsAllowed(PropertyId.MessageExpiryInterval, context)) WriteUInt32(ref w, PropertyId.MessageExpiryInterval, mei);
        if (p.ContentType is not null && IsAllowed(PropertyId.ContentType, context)) WriteString(ref w, PropertyId.ContentType, p.ContentType);
        if (p.ResponseTopic is not null && IsAllowed(PropertyId.ResponseTopic, context)) WriteString(ref w, PropertyId.ResponseTopic, p.ResponseTopic);
        if (p.CorrelationData is not null && IsAllowed(PropertyId.CorrelationData, context))
        {
            w.WriteByte((byte)PropertyId.CorrelationData);
            w.WriteBinary(p.CorrelationData);
        }
        if (p.SubscriptionIdentifiers is { Count: > 0 } ids && IsAllowed(PropertyId.SubscriptionIdentifier, context))
        {
            for (var i = 0; i < ids.Count; i++)
            {
                w.WriteByte((byte)PropertyId.SubscriptionIdentifier);
                w.WriteVariableByteInteger((int)ids[i]);
            }
        }
        if (p.SessionExpiryInterval is { } sei && IsAllowed(PropertyId.SessionExpiryInterval, context)) WriteUInt32(ref w, PropertyId.SessionExpiryInterval, sei);
        if (p.AssignedClientIdentifier is not null && IsAllowed(PropertyId.AssignedClientIdentifier, context)) WriteString(ref w, PropertyId.AssignedClientIdentifier, p.AssignedClientIdentifier);
        if (p.ServerKeepAlive is { } ska && IsAllowed(PropertyId.ServerKeepAlive, context)) WriteUInt16(ref w, PropertyId.ServerKeepAlive, ska);
        if (p.AuthenticationMethod is not null && IsAllowed(PropertyId.AuthenticationMethod, context)) WriteString(ref w, PropertyId.AuthenticationMethod, p.AuthenticationMethod);
        if (p.AuthenticationData is not null && IsAllowed(PropertyId.AuthenticationData, context))
        {
            w.WriteByte((byte)PropertyId.AuthenticationData);
            w.WriteBinary(p.AuthenticationData);
        }
        if (p.RequestProblemInformation is { } rpi && IsAllowed(PropertyId.RequestProblemInformation, context)) WriteByte(ref w, PropertyId.RequestProblemInformation, rpi);
        if (p.WillDelayInterval is { } wdi && IsAllowed(PropertyId.WillDelayInterval, context)) WriteUInt32(ref w, PropertyId.WillDelayInterval, wdi);
        if (p.RequestResponseInformation is { } rri && IsAllowed(PropertyId.RequestResponseInformation, context)) WriteByte(ref w, PropertyId.RequestResponseInformation, rri);
        if (p.ResponseInformation is not null && IsAllowed(PropertyId.ResponseInformation, context)) WriteString(ref w, PropertyId.ResponseInformation, p.ResponseInformation);
        if (p.ServerReference is not null && IsAllowed(PropertyId.ServerReference, context)) WriteString(ref w, PropertyId.ServerReference, p.ServerReference);
        if (p.ReasonString is not null && IsAllowed(PropertyId.ReasonString, context)) WriteString(ref w, PropertyId.ReasonString, p.ReasonString);
        if (p.ReceiveMaximum is { } rm && IsAllowed(PropertyId.ReceiveMaximum, context)) WriteUInt16(ref w, PropertyId.ReceiveMaximum, rm);
        if (p.TopicAliasMaximum is { } tam && IsAllowed(PropertyId.TopicAliasMaximum, context)) WriteUInt16(ref w, PropertyId.TopicAliasMaximum, tam);
        if (p.TopicAlias is { } ta && IsAllowed(PropertyId.TopicAlias, context)) WriteUInt16(ref w, PropertyId.TopicAlias, ta);
        if (p.MaximumQoS is { } mq && IsAllowed(PropertyId.MaximumQoS, context)) WriteByte(ref w, PropertyId.MaximumQoS, mq);
        if (p.RetainAvailable is { } ra && IsAllowed(PropertyId.RetainAvailable, context)) WriteByte(ref w, PropertyId.RetainAvailable, ra);
        if (p.UserProperties is { Count: > 0 } users)
        {
            for (var i = 0; i < users.Count; i++)
            {
                w.WriteByte((byte)PropertyId.UserProperty);
                w.WriteString(users[i].Name);
                w.WriteString(users[i].Value);
            }
        }
        if (p.MaximumPacketSize is { } mps && IsAllowed(PropertyId.MaximumPacketSize, context)) WriteUInt32(ref w, PropertyId.MaximumPacketSize, mps);
        if (p.WildcardSubscriptionAvailable is { } wsa && IsAllowed(PropertyId.WildcardSubscriptionAvailable, context)) WriteByte(ref w, PropertyId.WildcardSubscriptionAvailable, wsa);
        if (p.SubscriptionIdentifierAvailable is { } sia && IsAllowed(PropertyId.SubscriptionIdentifierAvailable, context)) WriteByte(ref w, PropertyId.SubscriptionIdentifierAvailable, sia);
        if (p.SharedSubscriptionAvailable is { } ssa && IsAllowed(PropertyId.SharedSubscriptionAvailable, context)) WriteByte(ref w, PropertyId.SharedSubscriptionAvailable, ssa);
    }

    private static void WriteByte(ref SpanWriter w, PropertyId id, byte value)
    {
        w.WriteByte((byte)id);
        w.WriteByte(value);
    }

    private static void WriteUInt16(ref SpanWriter w, PropertyId id, ushort value)
    {
        w.WriteByte((byte)id);
        w.WriteUInt16(value);
    }

    private static void WriteUInt32(ref SpanWriter w, PropertyId id, uint value)
    {
        w.WriteByte((byte)id);
        w.WriteUInt32(value);
    }

    private static void WriteString(ref SpanWriter w, PropertyId id, string value)
    {
        w.WriteByte((byte)id);
        w.WriteString(value);
    }
}
