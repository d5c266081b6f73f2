using System.Text;

namespace Starling.Testing;

/// <summary>Control packet types by their fixed-header nibble (kept local so tests do not lean on the codec).</summary>
public enum PacketKind : byte
{
    Reserved0 = 0,
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Reserved15 = 15,
}

/// <summary>The will part of a CONNECT.</summary>
public sealed record WillSpec(string Topic, byte[] Payload, int Qos = 0, bool Retain = false)
{
    public WillSpec(string topic, string payload, int qos = 0, bool retain = false)
        : this(topic, Encoding.UTF8.GetBytes(payload), qos, retain)
    {
    }

    /// <summary>When set, sent instead of <see cref="Topic"/> (for invalid UTF-8).</summary>
    public byte[]? RawTopic { get; init; }
}

/// <summary>
/// Everything a CONNECT can carry. The flags byte is computed from the fields unless <see cref="FlagsOverride"/> is
/// set; the payload always follows the fields, so flags and payload can be made to disagree on purpose.
/// </summary>
public sealed record ConnectSpec
{
    public string ClientId { get; init; } = "";

    /// <summary>When set, sent instead of <see cref="ClientId"/> (for invalid UTF-8).</summary>
    public byte[]? RawClientId { get; init; }

    public bool CleanSession { get; init; } = true;

    public ushort KeepAlive { get; init; } = 60;

    public string ProtocolName { get; init; } = "MQTT";

    public byte ProtocolLevel { get; init; } = 4;

    public WillSpec? Will { get; init; }

    public string? UserName { get; init; }

    /// <summary>When set, sent as the user name field instead of <see cref="UserName"/>.</summary>
    public byte[]? RawUserName { get; init; }

    public byte[]? Password { get; init; }

    public byte? FlagsOverride { get; init; }

    /// <summary>An MQTT 3.1 CONNECT ("MQIsdp", level 3).</summary>
    public static ConnectSpec V31(string clientId) => new() { ClientId = clientId, ProtocolName = "MQIsdp", ProtocolLevel = 3 };

    public byte ComputeFlags()
    {
        var flags = 0;
        if (CleanSession)
        {
            flags |= 0x02;
        }

        if (Will is not null)
        {
            flags |= 0x04 | (Will.Qos << 3);
            if (Will.Retain)
            {
                flags |= 0x20;
            }
        }

        if (UserName is not null || RawUserName is not null)
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

/// <summary>Builders for every client-to-server packet, written by hand from the 3.1.1 packet layouts.</summary>
public static class RawPackets
{
    public static byte[] Connect(ConnectSpec spec)
    {
        var body = new ByteBuilder()
            .Str(spec.ProtocolName)
            .U8(spec.ProtocolLevel)
            .U8(spec.FlagsOverride ?? spec.ComputeFlags())
            .U16(spec.KeepAlive);
        if (spec.RawClientId is not null)
        {
            body.Prefixed(spec.RawClientId);
        }
        else
        {
            body.Str(spec.ClientId);
        }

        if (spec.Will is not null)
        {
            if (spec.Will.RawTopic is not null)
            {
                body.Prefixed(spec.Will.RawTopic);
            }
            else
            {
                body.Str(spec.Will.Topic);
            }

            body.Prefixed(spec.Will.Payload);
        }

        if (spec.RawUserName is not null)
        {
            body.Prefixed(spec.RawUserName);
        }
        else if (spec.UserName is not null)
        {
            body.Str(spec.UserName);
        }

        if (spec.Password is not null)
        {
            body.Prefixed(spec.Password);
        }

        return ByteBuilder.Frame(0x10, body.ToArray());
    }

    public static byte[] Connect(string clientId, bool cleanSession = true, ushort keepAlive = 60)
        => Connect(new ConnectSpec { ClientId = clientId, CleanSession = cleanSession, KeepAlive = keepAlive });

    public static byte PublishHeader(int qos, bool retain = false, bool dup = false)
        => (byte)(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));

    public static byte[] Publish(string topic, byte[] payload, int qos = 0, bool retain = false, bool dup = false, ushort packetId = 0)
        => PublishRaw(PublishHeader(qos, retain, dup), Encoding.UTF8.GetBytes(topic), qos > 0 ? packetId : null, payload);

    public static byte[] Publish(string topic, string payload, int qos = 0, bool retain = false, bool dup = false, ushort packetId = 0)
        => Publish(topic, Encoding.UTF8.GetBytes(payload), qos, retain, dup, packetId);

    /// <summary>A PUBLISH with any header byte and topic bytes; the packet id is written only when given.</summary>
    public static byte[] PublishRaw(byte header, byte[] topic, ushort? packetId, byte[] payload)
    {
        var body = new ByteBuilder().Prefixed(topic);
        if (packetId is { } id)
        {
            body.U16(id);
        }

        body.Raw(payload);
        return ByteBuilder.Frame(header, body.ToArray());
    }

    /// <summary>A two-byte packet-id packet (PUBACK, PUBREC, PUBREL, PUBCOMP) with the given flags nibble.</summary>
    public static byte[] Ack(PacketKind kind, ushort packetId, int flags)
        => ByteBuilder.Frame((byte)(((int)kind << 4) | flags), new ByteBuilder().U16(packetId).ToArray());

    public static byte[] PubAck(ushort packetId) => Ack(PacketKind.PubAck, packetId, 0);

    public static byte[] PubRec(ushort packetId) => Ack(PacketKind.PubRec, packetId, 0);

    public static byte[] PubRel(ushort packetId) => Ack(PacketKind.PubRel, packetId, 0x02);

    public static byte[] PubComp(ushort packetId) => Ack(PacketKind.PubComp, packetId, 0);

    public static byte[] Subscribe(ushort packetId, params (string Filter, int Qos)[] filters)
    {
        var body = new ByteBuilder().U16(packetId);
        foreach (var (filter, qos) in filters)
        {
            body.Str(filter).U8(qos);
        }

        return ByteBuilder.Frame(0x82, body.ToArray());
    }

    /// <summary>A SUBSCRIBE with any header byte and a hand-made payload (after the packet id).</summary>
    public static byte[] SubscribeRaw(byte header, ushort packetId, byte[] payload)
        => ByteBuilder.Frame(header, new ByteBuilder().U16(packetId).Raw(payload).ToArray());

    public static byte[] Unsubscribe(ushort packetId, params string[] filters)
    {
        var body = new ByteBuilder().U16(packetId);
        foreach (var filter in filters)
        {
            body.Str(filter);
        }

        return ByteBuilder.Frame(0xA2, body.ToArray());
    }

    public static byte[] UnsubscribeRaw(byte header, ushort packetId, byte[] payload)
        => ByteBuilder.Frame(header, new ByteBuilder().U16(packetId).Raw(payload).ToArray());

    public static byte[] PingReq() => [0xC0, 0x00];

    public static byte[] Disconnect() => [0xE0, 0x00];
}
