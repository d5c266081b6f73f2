using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Storage.Tests.Infrastructure;

/// <summary>A message a <see cref="TestClient"/> delivered to the test (QoS 2 duplicates filtered as a real client must).</summary>
public sealed record Received(string Topic, byte[] Payload, QualityOfService QoS, bool Retain, bool Dup)
{
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>
/// Inbound QoS 2 state of one client id, kept across its connections like a real client's session: packet ids whose
/// PUBLISH was delivered and whose PUBREL has not come (method B of MQTT 4.3.3). A re-sent PUBLISH with such an id is
/// acknowledged but not delivered again.
/// </summary>
public sealed class ClientSessionState
{
    public HashSet<ushort> PendingQoS2 { get; } = [];
}

/// <summary>
/// A small raw MQTT client for storage tests, on the project's own codec: publishes with a window of unacknowledged
/// messages, receives with automatic acks, keeps inbound QoS 2 state in a <see cref="ClientSessionState"/> that
/// outlives the connection, and can vanish without DISCONNECT.
/// </summary>
public sealed class TestClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<ushort, TaskCompletionSource<ReasonCode>> _pending = new();
    private readonly Channel<MqttPacket> _control = Channel.CreateUnbounded<MqttPacket>();
    private readonly Channel<Received> _messages = Channel.CreateUnbounded<Received>();
    private readonly ClientSessionState _state;
    private readonly ProtocolVersion _version;
    private Task _readLoop = Task.CompletedTask;
    private int _nextId;

    private TestClient(TcpClient tcp, ClientSessionState state, ProtocolVersion version)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _input = PipeReader.Create(_stream);
        _state = state;
        _version = version;
    }

    public ChannelReader<Received> Messages => _messages.Reader;

    public bool SessionPresent { get; private set; }

    /// <summary>Completes when the connection ends.</summary>
    public Task Closed => _readLoop;

    public static async Task<TestClient> ConnectAsync(IPEndPoint endpoint, string clientId, bool cleanSession, ClientSessionState? state = null,
        ProtocolVersion version = ProtocolVersion.V311, uint sessionExpiry = 0, ushort? receiveMaximum = null)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(endpoint.Address, endpoint.Port).WaitAsync(TimeSpan.FromSeconds(10));
        var client = new TestClient(tcp, state ?? new ClientSessionState(), version);
        client._readLoop = Task.Run(client.ReadLoopAsync);
        MqttProperties? properties = null;
        if (version == ProtocolVersion.V500 && (sessionExpiry > 0 || receiveMaximum is not null))
        {
            properties = new MqttProperties { SessionExpiryInterval = sessionExpiry > 0 ? sessionExpiry : null, ReceiveMaximum = receiveMaximum };
        }
        await client.SendAsync(new ConnectPacket
        {
            ProtocolVersion = version,
            ClientId = clientId,
            CleanSession = cleanSession,
            KeepAliveSeconds = 60,
            Properties = properties,
        });
        var ack = await client.ExpectAsync<ConnAckPacket>();
        if (ack.ReasonCode != ReasonCode.Success)
        {
            throw new InvalidOperationException($"{clientId}: CONNACK {ack.ReasonCode}");
        }
        client.SessionPresent = ack.SessionPresent;
        return client;
    }

    public async Task<ReasonCode[]> SubscribeAsync(params (string Filter, QualityOfService QoS)[] filters)
    {
        await SendAsync(new SubscribePacket
        {
            PacketId = NextId(),
            Subscriptions = [.. filters.Select(f => new TopicSubscription(f.Filter, new SubscriptionOptions(f.QoS)))],
        });
        return (await ExpectAsync<SubAckPacket>()).ReasonCodes;
    }

    /// <summary>
    /// Sends a PUBLISH; the task completes when the server has taken responsibility for it: PUBACK (QoS 1), PUBREC
    /// (QoS 2; PUBREL and PUBCOMP follow on their own), at once for QoS 0.
    /// </summary>
    public async Task<ReasonCode> PublishAsync(string topic, byte[] payload, QualityOfService qos, bool retain = false)
    {
        var id = qos == QualityOfService.AtMostOnce ? (ushort)0 : NextId();
        TaskCompletionSource<ReasonCode>? done = null;
        if (id != 0)
        {
            done = new TaskCompletionSource<ReasonCode>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = done;
        }
        await SendAsync(new PublishPacket { Topic = topic, Payload = new ReadOnlySequence<byte>(payload), QoS = qos, Retain = retain, PacketId = id });
        return done is null ? ReasonCode.Success : await done.Task;
    }

    public Task PublishAsync(string topic, string payload, QualityOfService qos, bool retain = false)
        => PublishAsync(topic, Encoding.UTF8.GetBytes(payload), qos, retain);

    /// <summary>Receives until <paramref name="count"/> messages arrived or <paramref name="quiet"/> passed without any.</summary>
    public async Task<List<Received>> ReceiveAsync(int count, TimeSpan quiet)
    {
        var result = new List<Received>();
        while (result.Count < count)
        {
            using var cts = new CancellationTokenSource(quiet);
            try
            {
                result.Add(await _messages.Reader.ReadAsync(cts.Token));
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ChannelClosedException)
            {
                break;
            }
        }
        return result;
    }

    public async Task DisconnectAsync()
    {
        try
        {
            await SendAsync(new DisconnectPacket());
        }
        catch (IOException)
        {
        }
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        try
        {
            await _readLoop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or TimeoutException or SocketException or OperationCanceledException)
        {
        }
        _writeLock.Dispose();
    }

    private ushort NextId()
    {
        while (true)
        {
            var id = (ushort)(Interlocked.Increment(ref _nextId) % 65535 + 1);
            if (!_pending.ContainsKey(id))
            {
                return id;
            }
        }
    }

    private async Task<T> ExpectAsync<T>() where T : MqttPacket
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var packet = await _control.Reader.ReadAsync(cts.Token);
        return packet as T ?? throw new InvalidOperationException($"expected {typeof(T).Name}, got {packet.Type}");
    }

    private async Task SendAsync(MqttPacket packet)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        PacketEncoder.Write(buffer, packet, _version);
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(buffer.WrittenMemory);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync();
                var buffer = result.Buffer;
                while (FrameScanner.TryReadHeader(buffer, 268_435_460, out var header, out _) == OperationStatus.Done && buffer.Length >= header.TotalLength)
                {
                    var packet = PacketDecoder.Decode(header, buffer.Slice(header.HeaderLength, header.RemainingLength), _version);
                    await HandleAsync(packet);
                    buffer = buffer.Slice(header.TotalLength);
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or OperationCanceledException)
        {
        }
        finally
        {
            _messages.Writer.TryComplete();
            _control.Writer.TryComplete();
            foreach (var pending in _pending.Values)
            {
                pending.TrySetException(new IOException("connection closed before the acknowledgement"));
            }
        }
    }

    private async Task HandleAsync(MqttPacket packet)
    {
        switch (packet)
        {
            case PublishPacket p:
                var received = new Received(p.Topic, p.Payload.ToArray(), p.QoS, p.Retain, p.Dup);
                switch (p.QoS)
                {
                    case QualityOfService.AtMostOnce:
                        _messages.Writer.TryWrite(received);
                        break;
                    case QualityOfService.AtLeastOnce:
                        _messages.Writer.TryWrite(received);
                        await SendAsync(new PubAckPacket(PacketType.PubAck, p.PacketId));
                        break;
                    default:
                        bool fresh;
                        lock (_state)
                        {
                            fresh = _state.PendingQoS2.Add(p.PacketId);
                        }
                        if (fresh)
                        {
                            _messages.Writer.TryWrite(received);
                        }
                        await SendAsync(new PubAckPacket(PacketType.PubRec, p.PacketId));
                        break;
                }
                break;
            case PubAckPacket { Type: PacketType.PubRel } rel:
                lock (_state)
                {
                    _state.PendingQoS2.Remove(rel.PacketId);
                }
                await SendAsync(new PubAckPacket(PacketType.PubComp, rel.PacketId));
                break;
            case PubAckPacket { Type: PacketType.PubAck } ack:
                if (_pending.TryRemove(ack.PacketId, out var a))
                {
                    a.TrySetResult(ack.ReasonCode);
                }
                break;
            case PubAckPacket { Type: PacketType.PubRec } rec:
                if (_pending.TryRemove(rec.PacketId, out var r))
                {
                    r.TrySetResult(rec.ReasonCode);
                }
                await SendAsync(new PubAckPacket(PacketType.PubRel, rec.PacketId));
                break;
            case PubAckPacket { Type: PacketType.PubComp }:
                break;
            default:
                _control.Writer.TryWrite(packet);
                break;
        }
    }
}
