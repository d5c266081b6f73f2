using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>A message a client in session mode delivered to the test (QoS 2 duplicates filtered as a real client must).</summary>
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
/// Session mode, for tests that drive a broker like a real application client (the storage tests): after
/// <see cref="ConnectSessionAsync"/> a background pump owns the receive side. It acknowledges every PUBLISH on its own
/// (keeping inbound QoS 2 state in a <see cref="ClientSessionState"/> that outlives the connection), completes the
/// publisher's side of each handshake, and hands messages to <see cref="Messages"/> and other packets to the session
/// helpers. Publishes may overlap (a window of unacknowledged messages): sends in session mode are serialised. The
/// frame-level receive helpers must not be used on a client in session mode.
/// </summary>
public sealed partial class RawMqttClient
{
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim _sessionSendLock = new(1, 1);
    private readonly ConcurrentDictionary<ushort, TaskCompletionSource<ReasonCode>> _inflight = new();
    private readonly Channel<MqttPacket> _sessionControl = Channel.CreateUnbounded<MqttPacket>();
    private readonly Channel<Received> _messages = Channel.CreateUnbounded<Received>();
    private ClientSessionState _sessionState = new();
    private volatile bool _pumpEnded;

    /// <summary>Session mode: the messages delivered so far; completes when the connection ends.</summary>
    public ChannelReader<Received> Messages => _messages.Reader;

    /// <summary>Session mode: the CONNACK's session-present flag.</summary>
    public bool SessionPresent { get; private set; }

    /// <summary>Session mode: the pump, which ends when the connection does.</summary>
    public Task SessionPump { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// Opens a socket, connects as <paramref name="clientId"/> (keep alive 60 s), fails unless the CONNACK is a success,
    /// and starts the session pump.
    /// </summary>
    public static async Task<RawMqttClient> ConnectSessionAsync(IPEndPoint endpoint, string clientId, bool cleanSession, ClientSessionState? state = null,
        ProtocolVersion version = ProtocolVersion.V311, uint sessionExpiry = 0, ushort? receiveMaximum = null)
    {
        var client = await OpenAsync(endpoint, clientId, version);
        client._sessionState = state ?? new ClientSessionState();
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
        var ack = await client.ExpectAsync<ConnAckPacket>(SessionTimeout);
        if (ack.ReasonCode != ReasonCode.Success)
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"{clientId}: CONNACK {ack.ReasonCode}");
        }
        client.SessionPresent = ack.SessionPresent;
        client.SessionPump = Task.Run(client.PumpAsync);
        return client;
    }

    /// <summary>Session mode: SUBSCRIBE with a fresh packet id; returns the SUBACK's reason codes.</summary>
    public async Task<ReasonCode[]> SubscribeAllAsync(params (string Filter, QualityOfService QoS)[] filters)
    {
        var id = NextSessionPacketId();
        await SessionSendAsync(new SubscribePacket
        {
            PacketId = id,
            Subscriptions = [.. filters.Select(f => new TopicSubscription(f.Filter, new SubscriptionOptions(f.QoS)))],
        });
        using var cts = new CancellationTokenSource(SessionTimeout);
        var packet = await _sessionControl.Reader.ReadAsync(cts.Token);
        var ack = Assert.IsType<SubAckPacket>(packet);
        Assert.Equal(id, ack.PacketId);
        return ack.ReasonCodes;
    }

    /// <summary>
    /// Session mode: sends a PUBLISH; the task completes when the server has taken responsibility for it: PUBACK
    /// (QoS 1), PUBREC (QoS 2; PUBREL and PUBCOMP follow on their own), at once for QoS 0. Fails with an
    /// <see cref="IOException"/> when the connection ends first.
    /// </summary>
    public async Task<ReasonCode> PublishAckedAsync(string topic, byte[] payload, QualityOfService qos, bool retain = false)
    {
        var id = qos == QualityOfService.AtMostOnce ? (ushort)0 : NextSessionPacketId();
        TaskCompletionSource<ReasonCode>? done = null;
        if (id != 0)
        {
            done = new TaskCompletionSource<ReasonCode>(TaskCreationOptions.RunContinuationsAsynchronously);
            _inflight[id] = done;
            // Read after the add: either the pump's final sweep sees this entry, or this sees the pump has ended.
            if (_pumpEnded)
            {
                _inflight.TryRemove(id, out _);
                throw new IOException($"{Name}: the connection has ended");
            }
        }
        try
        {
            await SessionSendAsync(new PublishPacket { Topic = topic, Payload = new ReadOnlySequence<byte>(payload), QoS = qos, Retain = retain, PacketId = id });
        }
        catch (IOException)
        {
            _inflight.TryRemove(id, out _);
            throw;
        }
        return done is null ? ReasonCode.Success : await done.Task;
    }

    public Task<ReasonCode> PublishAckedAsync(string topic, string payload, QualityOfService qos, bool retain = false)
        => PublishAckedAsync(topic, Encoding.UTF8.GetBytes(payload), qos, retain);

    /// <summary>Session mode: receives until <paramref name="count"/> messages arrived or <paramref name="quiet"/> passed without any.</summary>
    public async Task<List<Received>> ReceiveMessagesAsync(int count, TimeSpan quiet)
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

    /// <summary>Session mode: sends DISCONNECT (if the connection is still there) and disposes the client.</summary>
    public async Task DisconnectAsync()
    {
        try
        {
            await SessionSendAsync(new DisconnectPacket());
        }
        catch (IOException)
        {
        }
        await DisposeAsync();
        await SessionPump.WaitAsync(SessionTimeout);
    }

    private ushort NextSessionPacketId()
    {
        while (true)
        {
            var id = NextPacketId();
            if (!_inflight.ContainsKey(id))
            {
                return id;
            }
        }
    }

    /// <summary>Encodes and sends one packet; sends never overlap. A broken connection is reported as an <see cref="IOException"/>.</summary>
    private async Task SessionSendAsync(MqttPacket packet)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        PacketEncoder.Write(buffer, packet, Version);
        await _sessionSendLock.WaitAsync();
        try
        {
            await SendAsync(buffer.WrittenMemory);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            throw new IOException($"{Name}: send failed: {ex.Message}", ex);
        }
        finally
        {
            _sessionSendLock.Release();
        }
    }

    private async Task PumpAsync()
    {
        try
        {
            while (await _frames.Reader.WaitToReadAsync())
            {
                while (_frames.Reader.TryRead(out var frame))
                {
                    await HandleSessionPacketAsync(Decode(frame));
                }
            }
        }
        catch (IOException)
        {
            // An ack could not be sent: the connection is gone; the read loop ends too.
        }
        finally
        {
            _pumpEnded = true;
            _messages.Writer.TryComplete();
            _sessionControl.Writer.TryComplete();
            foreach (var pending in _inflight.Values)
            {
                pending.TrySetException(new IOException($"{Name}: connection closed before the acknowledgement"));
            }
        }
    }

    private async Task HandleSessionPacketAsync(MqttPacket packet)
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
                        await SessionSendAsync(new PubAckPacket(PacketType.PubAck, p.PacketId));
                        break;
                    default:
                        bool fresh;
                        lock (_sessionState)
                        {
                            fresh = _sessionState.PendingQoS2.Add(p.PacketId);
                        }
                        if (fresh)
                        {
                            _messages.Writer.TryWrite(received);
                        }
                        await SessionSendAsync(new PubAckPacket(PacketType.PubRec, p.PacketId));
                        break;
                }
                break;
            case PubAckPacket { Type: PacketType.PubRel } rel:
                lock (_sessionState)
                {
                    _sessionState.PendingQoS2.Remove(rel.PacketId);
                }
                await SessionSendAsync(new PubAckPacket(PacketType.PubComp, rel.PacketId));
                break;
            case PubAckPacket { Type: PacketType.PubAck } ack:
                if (_inflight.TryRemove(ack.PacketId, out var a))
                {
                    a.TrySetResult(ack.ReasonCode);
                }
                break;
            case PubAckPacket { Type: PacketType.PubRec } rec:
                if (_inflight.TryRemove(rec.PacketId, out var r))
                {
                    r.TrySetResult(rec.ReasonCode);
                }
                await SessionSendAsync(new PubAckPacket(PacketType.PubRel, rec.PacketId));
                break;
            case PubAckPacket { Type: PacketType.PubComp }:
                break;
            default:
                _sessionControl.Writer.TryWrite(packet);
                break;
        }
    }
}
