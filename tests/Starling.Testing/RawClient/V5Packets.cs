using System.Text;

namespace Starling.Testing;

/// <summary>MQTT 5 property identifiers (section 2.2.2.2), kept local so tests do not lean on the codec.</summary>
public static class Prop
{
    public const byte PayloadFormatIndicator = 0x01;
    public const byte MessageExpiryInterval = 0x02;
    public const byte ContentType = 0x03;
    public const byte ResponseTopic = 0x08;
    public const byte CorrelationData = 0x09;
    public const byte SubscriptionIdentifier = 0x0B;
    public const byte SessionExpiryInterval = 0x11;
    public const byte AssignedClientIdentifier = 0x12;
    public const byte ServerKeepAlive = 0x13;
    public const byte AuthenticationMethod = 0x15;
    public const byte AuthenticationData = 0x16;
    public const byte RequestProblemInformation = 0x17;
    public const byte WillDelayInterval = 0x18;
    public const byte RequestResponseInformation = 0x19;
    public const byte ResponseInformation = 0x1A;
    public const byte ServerReference = 0x1C;
    public const byte ReasonString = 0x1F;
    public const byte ReceiveMaximum = 0x21;
    public const byte TopicAliasMaximum = 0x22;
    public const byte TopicAlias = 0x23;
    public const byte MaximumQoS = 0x24;
    public const byte RetainAvailable = 0x25;
    public const byte UserProperty = 0x26;
    public const byte MaximumPacketSize = 0x27;
    public const byte WildcardSubscriptionAvailable = 0x28;
    public const byte SubscriptionIdentifierAvailable = 0x29;
    public const byte SharedSubscriptionAvailable = 0x2A;
}

/// <summary>
/// Writes an MQTT 5 property block by hand: each call appends one property, in call order, without any check, so a
/// test can send duplicates, unknown identifiers or properties that do not belong to the packet.
/// </summary>
public sealed class Props
{
    private readonly ByteBuilder _bytes = new();

    public static Props None => new();

    public bool IsEmpty => _bytes.Length == 0;

    public Props Byte(byte id, int value)
    {
        _bytes.U8(id).U8(value);
        return this;
    }

    public Props U16(byte id, int value)
    {
        _bytes.U8(id).U16(value);
        return this;
    }

    public Props U32(byte id, uint value)
    {
        _bytes.U8(id).U16((int)(value >> 16)).U16((int)(value & 0xFFFF));
        return this;
    }

    public Props VarInt(byte id, int value)
    {
        _bytes.U8(id).Raw(ByteBuilder.VarInt(value));
        return this;
    }

    public Props Str(byte id, string value)
    {
        _bytes.U8(id).Str(value);
        return this;
    }

    public Props Bin(byte id, byte[] value)
    {
        _bytes.U8(id).Prefixed(value);
        return this;
    }

    public Props User(string name, string value)
    {
        _bytes.U8(Prop.UserProperty).Str(name).Str(value);
        return this;
    }

    /// <summary>Any bytes, appended as they are (for malformed property blocks).</summary>
    public Props Raw(params byte[] bytes)
    {
        _bytes.Raw(bytes);
        return this;
    }

    /// <summary>The property length (variable byte integer) followed by the properties.</summary>
    public byte[] Encode()
    {
        var body = _bytes.ToArray();
        return [.. ByteBuilder.VarInt(body.Length), .. body];
    }
}

/// <summary>The will part of an MQTT 5 CONNECT.</summary>
public sealed record WillSpec5(string Topic, byte[] Payload, int Qos = 0, bool Retain = false)
{
    public WillSpec5(string topic, string payload, int qos = 0, bool retain = false)
        : this(topic, Encoding.UTF8.GetBytes(payload), qos, retain)
    {
    }

    public Props Properties { get; init; } = Props.None;
}

/// <summary>Everything an MQTT 5 CONNECT can carry (protocol level 5, properties after the keep-alive).</summary>
public sealed record Connect5
{
    public string ClientId { get; init; } = "";

    public bool CleanStart { get; init; } = true;

    public ushort KeepAlive { get; init; } = 60;

    public Props Properties { get; init; } = Props.None;

    public WillSpec5? Will { get; init; }

    public string? UserName { get; init; }

    public byte[]? Password { get; init; }

    public byte? FlagsOverride { get; init; }

    public byte ComputeFlags()
    {
        var flags = CleanStart ? 0x02 : 0;
        if (Will is not null)
        {
            flags |= 0x04 | (Will.Qos << 3) | (Will.Retain ? 0x20 : 0);
        }

        if (UserName is not null)
        {
            flags |= 0x80;
        }

        if (Password is not null)
        {
            flags |= 0x40;
        }

        return (byte)flags;
    }
}

/// <summary>One topic filter of an MQTT 5 SUBSCRIBE with its subscription options (section 3.8.3.1).</summary>
public sealed record Sub(string Filter, int Qos = 0, bool NoLocal = false, bool RetainAsPublished = false, int RetainHandling = 0)
{
    /// <summary>The options byte; <see cref="OptionsOverride"/> replaces it (for reserved bits).</summary>
    public byte Options => OptionsOverride ?? (byte)(Qos | (NoLocal ? 0x04 : 0) | (RetainAsPublished ? 0x08 : 0) | (RetainHandling << 4));

    public byte? OptionsOverride { get; init; }
}

/// <summary>Builders for MQTT 5 client-to-server packets, written by hand from the 5.0 packet layouts.</summary>
public static class Packets5
{
    public static byte[] Connect(Connect5 spec)
    {
        var body = new ByteBuilder()
            .Str("MQTT")
            .U8(5)
            .U8(spec.FlagsOverride ?? spec.ComputeFlags())
            .U16(spec.KeepAlive)
            .Raw(spec.Properties.Encode())
            .Str(spec.ClientId);
        if (spec.Will is { } will)
        {
            body.Raw(will.Properties.Encode()).Str(will.Topic).Prefixed(will.Payload);
        }

        if (spec.UserName is not null)
        {
            body.Str(spec.UserName);
        }

        if (spec.Password is not null)
        {
            body.Prefixed(spec.Password);
        }

        return ByteBuilder.Frame(0x10, body.ToArray());
    }

    public static byte[] Publish(string topic, string payload, int qos = 0, ushort packetId = 0, Props? properties = null, bool retain = false, bool dup = false)
        => Publish(topic, Encoding.UTF8.GetBytes(payload), qos, packetId, properties, retain, dup);

    public static byte[] Publish(string topic, byte[] payload, int qos = 0, ushort packetId = 0, Props? properties = null, bool retain = false, bool dup = false)
    {
        var body = new ByteBuilder().Str(topic);
        if (qos > 0)
        {
            body.U16(packetId);
        }

        body.Raw((properties ?? Props.None).Encode()).Raw(payload);
        return ByteBuilder.Frame(RawPackets.PublishHeader(qos, retain, dup), body.ToArray());
    }

    /// <summary>PUBACK, PUBREC, PUBREL or PUBCOMP with a reason code and properties.</summary>
    public static byte[] Ack(PacketKind kind, ushort packetId, byte reason = 0, Props? properties = null)
    {
        var body = new ByteBuilder().U16(packetId).U8(reason).Raw((properties ?? Props.None).Encode());
        return ByteBuilder.Frame((byte)(((int)kind << 4) | (kind == PacketKind.PubRel ? 0x02 : 0)), body.ToArray());
    }

    public static byte[] Subscribe(ushort packetId, Props? properties, params Sub[] subscriptions)
    {
        var body = new ByteBuilder().U16(packetId).Raw((properties ?? Props.None).Encode());
        foreach (var s in subscriptions)
        {
            body.Str(s.Filter).U8(s.Options);
        }

        return ByteBuilder.Frame(0x82, body.ToArray());
    }

    public static byte[] Subscribe(ushort packetId, params Sub[] subscriptions) => Subscribe(packetId, null, subscriptions);

    public static byte[] Unsubscribe(ushort packetId, params string[] filters)
    {
        var body = new ByteBuilder().U16(packetId).Raw(Props.None.Encode());
        foreach (var f in filters)
        {
            body.Str(f);
        }

        return ByteBuilder.Frame(0xA2, body.ToArray());
    }

    public static byte[] Disconnect(byte reason = 0, Props? properties = null)
        => ByteBuilder.Frame(0xE0, new ByteBuilder().U8(reason).Raw((properties ?? Props.None).Encode()).ToArray());

    public static byte[] Auth(byte reason, Props? properties = null)
        => ByteBuilder.Frame(0xF0, new ByteBuilder().U8(reason).Raw((properties ?? Props.None).Encode()).ToArray());
}
