using System.Text;

namespace Starling.Testing;

/// <summary>One MQTT 5 property as the server sent it: numbers in <see cref="Number"/>, strings and binary in <see cref="Data"/>.</summary>
public sealed record Property5(byte Id, uint Number, byte[] Data, string? Name = null)
{
    public string Text => Encoding.UTF8.GetString(Data);

    public override string ToString() => Name is not null ? $"0x{Id:X2} {Name}={Text}" : Data.Length > 0 ? $"0x{Id:X2} '{Text}'" : $"0x{Id:X2} {Number}";
}

/// <summary>A parsed MQTT 5 property block, in the order the server wrote it.</summary>
public sealed class Properties5(IReadOnlyList<Property5> items)
{
    public IReadOnlyList<Property5> Items { get; } = items;

    public bool Has(byte id) => Items.Any(p => p.Id == id);

    public Property5? Get(byte id)
    {
        var all = Items.Where(p => p.Id == id).ToList();
        Assert.True(all.Count <= 1, $"property 0x{id:X2} appears {all.Count} times: {this}");
        return all.Count == 1 ? all[0] : null;
    }

    public uint? Number(byte id) => Get(id)?.Number;

    public string? Text(byte id) => Get(id)?.Text;

    public byte[]? Binary(byte id) => Get(id)?.Data;

    public IReadOnlyList<uint> Numbers(byte id) => [.. Items.Where(p => p.Id == id).Select(p => p.Number)];

    public IReadOnlyList<(string Name, string Value)> UserProperties
        => [.. Items.Where(p => p.Id == Prop.UserProperty).Select(p => (p.Name!, p.Text))];

    /// <summary>Reads a property length and the properties at <paramref name="offset"/>; moves it past them.</summary>
    public static Properties5 Read(byte[] body, ref int offset)
    {
        var length = ReadVarInt(body, ref offset);
        var end = offset + length;
        Assert.True(end <= body.Length, $"property length {length} runs past the packet ({body.Length} bytes)");
        var items = new List<Property5>();
        while (offset < end)
        {
            var id = body[offset++];
            switch (id)
            {
                case Prop.PayloadFormatIndicator or Prop.RequestProblemInformation or Prop.RequestResponseInformation
                    or Prop.MaximumQoS or Prop.RetainAvailable or Prop.WildcardSubscriptionAvailable
                    or Prop.SubscriptionIdentifierAvailable or Prop.SharedSubscriptionAvailable:
                    items.Add(new Property5(id, body[offset++], []));
                    break;
                case Prop.ServerKeepAlive or Prop.ReceiveMaximum or Prop.TopicAliasMaximum or Prop.TopicAlias:
                    items.Add(new Property5(id, (uint)((body[offset] << 8) | body[offset + 1]), []));
                    offset += 2;
                    break;
                case Prop.MessageExpiryInterval or Prop.SessionExpiryInterval or Prop.WillDelayInterval or Prop.MaximumPacketSize:
                    items.Add(new Property5(id, (uint)((body[offset] << 24) | (body[offset + 1] << 16) | (body[offset + 2] << 8) | body[offset + 3]), []));
                    offset += 4;
                    break;
                case Prop.SubscriptionIdentifier:
                    items.Add(new Property5(id, (uint)ReadVarInt(body, ref offset), []));
                    break;
                case Prop.ContentType or Prop.ResponseTopic or Prop.AssignedClientIdentifier or Prop.AuthenticationMethod
                    or Prop.ResponseInformation or Prop.ServerReference or Prop.ReasonString
                    or Prop.CorrelationData or Prop.AuthenticationData:
                    items.Add(new Property5(id, 0, ReadPrefixed(body, ref offset)));
                    break;
                case Prop.UserProperty:
                    var name = Encoding.UTF8.GetString(ReadPrefixed(body, ref offset));
                    items.Add(new Property5(id, 0, ReadPrefixed(body, ref offset), name));
                    break;
                default:
                    Assert.Fail($"the server sent unknown property 0x{id:X2}");
                    break;
            }
        }

        Assert.True(offset == end, "a property ran past the property length");
        return new Properties5(items);
    }

    public override string ToString() => "[" + string.Join(", ", Items) + "]";

    private static byte[] ReadPrefixed(byte[] body, ref int offset)
    {
        var length = (body[offset] << 8) | body[offset + 1];
        var value = body[(offset + 2)..(offset + 2 + length)];
        offset += 2 + length;
        return value;
    }

    private static int ReadVarInt(byte[] body, ref int offset)
    {
        var value = 0;
        var shift = 0;
        while (true)
        {
            Assert.True(offset < body.Length && shift <= 21, "bad variable byte integer from the server");
            var b = body[offset++];
            value |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }

            shift += 7;
        }
    }
}

/// <summary>A parsed MQTT 5 CONNACK.</summary>
public sealed record ConnAck5(byte AckFlags, byte ReasonCode, Properties5 Properties)
{
    public bool SessionPresent => (AckFlags & 0x01) != 0;

    public static ConnAck5 Parse(MqttFrame frame)
    {
        Assert.True(frame.Header == 0x20, $"CONNACK header must be 0x20: {frame}");
        Assert.True(frame.Body.Length >= 3, $"an MQTT 5 CONNACK has flags, reason code and properties: {frame}");
        Assert.True((frame.Body[0] & 0xFE) == 0, $"CONNACK flag bits 7-1 are reserved [MQTT-3.2.2-1]: {frame}");
        var offset = 2;
        var properties = Properties5.Read(frame.Body, ref offset);
        Assert.True(offset == frame.Body.Length, $"bytes after the CONNACK properties: {frame}");
        return new ConnAck5(frame.Body[0], frame.Body[1], properties);
    }

    public override string ToString() => $"CONNACK 0x{ReasonCode:X2} present={SessionPresent} {Properties}";
}

/// <summary>A parsed MQTT 5 PUBLISH from the server.</summary>
public sealed record Publish5(byte Header, string Topic, ushort PacketId, Properties5 Properties, byte[] Payload)
{
    public int Qos => (Header >> 1) & 0x03;

    public bool Dup => (Header & 0x08) != 0;

    public bool Retain => (Header & 0x01) != 0;

    public string Text => Encoding.UTF8.GetString(Payload);

    public static Publish5 Parse(MqttFrame frame)
    {
        Assert.True(frame.Kind == PacketKind.Publish, $"expected PUBLISH, got {frame}");
        var body = frame.Body;
        var topicLength = (body[0] << 8) | body[1];
        var topic = Encoding.UTF8.GetString(body, 2, topicLength);
        var offset = 2 + topicLength;
        ushort packetId = 0;
        if (((frame.Header >> 1) & 0x03) > 0)
        {
            packetId = (ushort)((body[offset] << 8) | body[offset + 1]);
            offset += 2;
        }

        var properties = Properties5.Read(body, ref offset);
        return new Publish5(frame.Header, topic, packetId, properties, body[offset..]);
    }

    public override string ToString() => $"PUBLISH '{Topic}' qos={Qos} dup={Dup} retain={Retain} id={PacketId} {Properties} payload='{Text}'";
}

/// <summary>
/// A parsed MQTT 5 PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK/SUBACK: packet id, properties and reason codes (one
/// for the publish acknowledgements, 0x00 when the server left it out; one per filter for SUBACK/UNSUBACK).
/// </summary>
public sealed record Ack5(PacketKind Kind, ushort PacketId, byte[] ReasonCodes, Properties5 Properties)
{
    public byte ReasonCode => ReasonCodes[0];

    public static Ack5 Parse(MqttFrame frame)
    {
        var expectedHeader = frame.Kind == PacketKind.PubRel ? 0x62 : (int)frame.Kind << 4;
        Assert.True(frame.Header == expectedHeader, $"{frame.Kind} must have header 0x{expectedHeader:X2}: {frame}");
        var body = frame.Body;
        var packetId = (ushort)((body[0] << 8) | body[1]);
        if (frame.Kind is PacketKind.SubAck or PacketKind.UnsubAck)
        {
            var at = 2;
            var props = Properties5.Read(body, ref at);
            return new Ack5(frame.Kind, packetId, body[at..], props);
        }

        // Section 3.4.2.1: reason code 0x00 and no properties may be left out entirely (remaining length 2).
        if (body.Length == 2)
        {
            return new Ack5(frame.Kind, packetId, [0], new Properties5([]));
        }

        var offset = 3;
        var properties = body.Length > 3 ? Properties5.Read(body, ref offset) : new Properties5([]);
        Assert.True(offset == body.Length, $"bytes after the {frame.Kind} properties: {frame}");
        return new Ack5(frame.Kind, packetId, [body[2]], properties);
    }

    public override string ToString() => $"{Kind} id={PacketId} codes={Convert.ToHexString(ReasonCodes)} {Properties}";
}

/// <summary>A parsed MQTT 5 DISCONNECT (reason 0x00 when the remaining length is 0).</summary>
public sealed record Disconnect5(byte ReasonCode, Properties5 Properties)
{
    public static Disconnect5 Parse(MqttFrame frame)
    {
        Assert.True(frame.Header == 0xE0, $"DISCONNECT header must be 0xE0: {frame}");
        if (frame.Body.Length == 0)
        {
            return new Disconnect5(0, new Properties5([]));
        }

        var offset = 1;
        var properties = frame.Body.Length > 1 ? Properties5.Read(frame.Body, ref offset) : new Properties5([]);
        return new Disconnect5(frame.Body[0], properties);
    }

    public override string ToString() => $"DISCONNECT 0x{ReasonCode:X2} {Properties}";
}
