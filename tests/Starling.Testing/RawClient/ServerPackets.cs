using System.Globalization;
using System.Text;

namespace Starling.Testing;

/// <summary>One packet as the server sent it: the fixed-header byte and the bytes after the remaining length.</summary>
public sealed class MqttFrame(byte header, byte[] body)
{
    public byte Header { get; } = header;

    public byte[] Body { get; } = body;

    public PacketKind Kind => (PacketKind)(Header >> 4);

    public int Flags => Header & 0x0F;

    /// <summary>The packet id of a packet whose variable header starts with one (acks, SUBACK, UNSUBACK).</summary>
    public ushort PacketId => Body.Length >= 2 ? (ushort)((Body[0] << 8) | Body[1]) : throw new InvalidOperationException($"{this} has no packet id");

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{Kind} (header 0x{Header:X2}, {Body.Length} body bytes: {Convert.ToHexString(Body.AsSpan(0, Math.Min(Body.Length, 32)))})");
}

/// <summary>A parsed PUBLISH from the server.</summary>
public sealed record ReceivedPublish(byte Header, byte[] TopicBytes, ushort PacketId, byte[] Payload)
{
    public int Qos => (Header >> 1) & 0x03;

    public bool Dup => (Header & 0x08) != 0;

    public bool Retain => (Header & 0x01) != 0;

    public string Topic => Encoding.UTF8.GetString(TopicBytes);

    public string Text => Encoding.UTF8.GetString(Payload);

    public static ReceivedPublish Parse(MqttFrame frame)
    {
        Assert.True(frame.Kind == PacketKind.Publish, $"expected PUBLISH, got {frame}");
        var body = frame.Body;
        Assert.True(body.Length >= 2, $"PUBLISH too short: {frame}");
        var topicLength = (body[0] << 8) | body[1];
        var offset = 2 + topicLength;
        var qos = (frame.Header >> 1) & 0x03;
        ushort packetId = 0;
        if (qos > 0)
        {
            Assert.True(body.Length >= offset + 2, $"PUBLISH QoS {qos} without packet id: {frame}");
            packetId = (ushort)((body[offset] << 8) | body[offset + 1]);
            offset += 2;
        }

        return new ReceivedPublish(frame.Header, body[2..(2 + topicLength)], packetId, body[offset..]);
    }

    public override string ToString() => $"PUBLISH '{Topic}' qos={Qos} dup={Dup} retain={Retain} id={PacketId} payload='{Text}'";
}

/// <summary>A parsed CONNACK.</summary>
public sealed record ConnAck(byte AckFlags, byte ReturnCode)
{
    public bool SessionPresent => (AckFlags & 0x01) != 0;

    public static ConnAck Parse(MqttFrame frame)
    {
        Assert.True(frame.Kind == PacketKind.ConnAck, $"expected CONNACK, got {frame}");
        Assert.True(frame.Header == 0x20, $"CONNACK header must be 0x20: {frame}");
        Assert.True(frame.Body.Length == 2, $"a 3.1.1 CONNACK has remaining length 2: {frame}");
        return new ConnAck(frame.Body[0], frame.Body[1]);
    }
}
