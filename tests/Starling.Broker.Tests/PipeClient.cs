using System.Buffers;
using System.IO.Pipelines;
using Starling.Protocol;

namespace Starling.Broker.Tests;

/// <summary>A test client wired to the broker through in-memory pipes (no sockets), speaking through the codec.</summary>
internal sealed class PipeClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    private readonly Pipe _toServer = new();
    private readonly Pipe _toClient = new();
    private readonly ProtocolVersion _version;

    public PipeClient(MqttBroker broker, ProtocolVersion version = ProtocolVersion.V311, string name = "test")
    {
        _version = version;
        Run = broker.RunConnectionAsync(new Duplex(_toServer.Reader, _toClient.Writer), new ConnectionInfo(name, null, null, "memory"), CancellationToken.None);
    }

    public Task Run { get; }

    public async Task SendAsync(MqttPacket packet)
    {
        PacketEncoder.Write(_toServer.Writer, packet, _version);
        await _toServer.Writer.FlushAsync();
    }

    /// <summary>Writes all packets and flushes once, so the broker sees them in one read.</summary>
    public async Task SendManyAsync(IEnumerable<MqttPacket> packets)
    {
        foreach (var packet in packets)
        {
            PacketEncoder.Write(_toServer.Writer, packet, _version);
        }
        await _toServer.Writer.FlushAsync();
    }

    public async Task<ConnAckPacket> ConnectAsync(string clientId, bool clean = true, ushort keepAlive = 0, WillMessage? will = null, MqttProperties? properties = null)
    {
        await SendAsync(new ConnectPacket
        {
            ProtocolName = _version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = _version,
            ClientId = clientId,
            CleanSession = clean,
            KeepAliveSeconds = keepAlive,
            Will = will,
            Properties = properties,
        });
        return await ExpectAsync<ConnAckPacket>();
    }

    public async Task SubscribeAsync(string filter, QualityOfService qos, ushort packetId = 1)
    {
        await SendAsync(new SubscribePacket { PacketId = packetId, Subscriptions = [new TopicSubscription(filter, new SubscriptionOptions(qos))] });
        var ack = await ExpectAsync<SubAckPacket>();
        Assert.Equal(packetId, ack.PacketId);
    }

    public Task PublishAsync(string topic, string payload, QualityOfService qos = QualityOfService.AtMostOnce, ushort packetId = 0, bool retain = false, bool dup = false, MqttProperties? properties = null)
        => SendAsync(new PublishPacket
        {
            Topic = topic,
            Payload = new ReadOnlySequence<byte>(System.Text.Encoding.UTF8.GetBytes(payload)),
            QoS = qos,
            PacketId = packetId,
            Retain = retain,
            Dup = dup,
            Properties = properties,
        });

    public async Task<T> ExpectAsync<T>(TimeSpan? timeout = null) where T : MqttPacket
    {
        var packet = await ReceiveAsync(timeout);
        return Assert.IsType<T>(packet);
    }

    /// <summary>The next packet, or null when the server closed the stream.</summary>
    public async Task<MqttPacket?> ReceiveAsync(TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        var reader = _toClient.Reader;
        while (true)
        {
            var result = await reader.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            if (FrameScanner.TryReadHeader(buffer, int.MaxValue, out var header, out _) == OperationStatus.Done && buffer.Length >= header.TotalLength)
            {
                var packet = PacketDecoder.Decode(header, buffer.Slice(header.HeaderLength, header.RemainingLength), _version);
                if (packet is PublishPacket p)
                {
                    // Copy out of the pipe's buffer before advancing.
                    p.Payload = new ReadOnlySequence<byte>(p.Payload.ToArray());
                }
                reader.AdvanceTo(buffer.GetPosition(header.TotalLength));
                return packet;
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                return null;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    public async Task ExpectClosedAsync()
    {
        var packet = await ReceiveAsync();
        Assert.True(packet is null or DisconnectPacket, $"expected the connection to close, got {packet?.Type}");
        if (packet is not null)
        {
            Assert.Null(await ReceiveAsync());
        }
    }

    /// <summary>Ends the stream from the client side without DISCONNECT (a network drop).</summary>
    public async Task DropAsync()
    {
        // Both directions, as a broken socket: a broker writer blocked on a full pipe to this client ends too.
        await _toClient.Reader.CompleteAsync();
        await _toServer.Writer.CompleteAsync();
        await Run.WaitAsync(DefaultTimeout);
    }

    public async ValueTask DisposeAsync()
    {
        await _toServer.Writer.CompleteAsync();
        await Run.WaitAsync(DefaultTimeout);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
