using System.Buffers;
using System.Text;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>
/// Packet-level helpers over Starling.Protocol's codec, in the client's <see cref="Version"/>: build a packet object,
/// encode and send it; receive a frame and decode it. For tests that check the broker's behaviour rather than the
/// bytes on the wire (the broker unit tests); the byte-level API stays for conformance tests.
/// </summary>
public sealed partial class RawMqttClient
{
    /// <summary>For <see cref="ExpectClosedAsync"/>: a DISCONNECT from the server before the close is fine.</summary>
    public static readonly Func<MqttFrame, bool> AllowDisconnect = frame => frame.Kind == PacketKind.Disconnect;

    /// <summary>Encodes <paramref name="packet"/> and sends it.</summary>
    public Task SendAsync(MqttPacket packet) => SendManyAsync([packet]);

    /// <summary>Encodes all packets and sends them in one write, so the broker sees them in one read.</summary>
    public Task SendManyAsync(IEnumerable<MqttPacket> packets)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var packet in packets)
        {
            PacketEncoder.Write(buffer, packet, Version);
        }
        return SendAsync(buffer.WrittenMemory);
    }

    /// <summary>Sends CONNECT and returns the CONNACK.</summary>
    public async Task<ConnAckPacket> ConnectAsync(string clientId, bool clean = true, ushort keepAlive = 0, WillMessage? will = null, MqttProperties? properties = null)
    {
        await SendAsync(new ConnectPacket
        {
            ProtocolName = Version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = Version,
            ClientId = clientId,
            CleanSession = clean,
            KeepAliveSeconds = keepAlive,
            Will = will,
            Properties = properties,
        });
        return await ExpectAsync<ConnAckPacket>();
    }

    /// <summary>Subscribes to one filter and checks the SUBACK's packet id.</summary>
    public async Task SubscribeAsync(string filter, QualityOfService qos, ushort packetId = 1)
    {
        await SendAsync(new SubscribePacket { PacketId = packetId, Subscriptions = [new TopicSubscription(filter, new SubscriptionOptions(qos))] });
        var ack = await ExpectAsync<SubAckPacket>();
        Assert.Equal(packetId, ack.PacketId);
    }

    /// <summary>Sends a PUBLISH with a UTF-8 payload (no wait for an ack).</summary>
    public Task PublishPacketAsync(string topic, string payload, QualityOfService qos = QualityOfService.AtMostOnce, ushort packetId = 0, bool retain = false, bool dup = false, MqttProperties? properties = null)
        => SendAsync(new PublishPacket
        {
            Topic = topic,
            Payload = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(payload)),
            QoS = qos,
            PacketId = packetId,
            Retain = retain,
            Dup = dup,
            Properties = properties,
        });

    /// <summary>The next packet, decoded; fails when it is not a <typeparamref name="T"/> or the connection closed.</summary>
    public async Task<T> ExpectAsync<T>(TimeSpan? timeout = null)
        where T : MqttPacket
    {
        var packet = await ReceivePacketAsync(timeout);
        return Assert.IsType<T>(packet);
    }

    /// <summary>The next packet, decoded, or null when the server closed the connection first.</summary>
    public async Task<MqttPacket?> ReceivePacketAsync(TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        MqttFrame? frame;
        if (_deferred.TryDequeue(out var deferred))
        {
            frame = deferred;
        }
        else
        {
            try
            {
                frame = await _frames.Reader.ReadAsync(cts.Token);
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                return null;
            }
        }
        return Decode(frame);
    }

    /// <summary>Decodes a frame the read loop split off (its body is its own copy, so payloads stay valid).</summary>
    public MqttPacket Decode(MqttFrame frame)
    {
        var bytes = new ArrayBufferWriter<byte>(frame.Body.Length + 5);
        bytes.Write([frame.Header]);
        var length = frame.Body.Length;
        do
        {
            var digit = (byte)(length % 128);
            length /= 128;
            bytes.Write([length > 0 ? (byte)(digit | 0x80) : digit]);
        }
        while (length > 0);
        bytes.Write(frame.Body);
        var sequence = new ReadOnlySequence<byte>(bytes.WrittenMemory);
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(sequence, int.MaxValue, out var header, out _));
        return PacketDecoder.Decode(header, sequence.Slice(header.HeaderLength, header.RemainingLength), Version);
    }
}
