using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// One transport stream carrying MQTT packets: the read loop (frame scan, decode, handle) and the writer, scheduled
/// while there is output (drain <see cref="OutboundQueue"/>, encode, flush once per batch). The read loop alone
/// mutates the fields below that are not marked volatile; other threads only enqueue output or call <see cref="Abort"/>.
/// </summary>
internal sealed partial class MqttConnection
{
    private readonly BrokerContext _broker;
    private readonly MessagePool _messagePool;
    private readonly IDuplexPipe _transport;
    private readonly ConnectionInfo _info;
    private readonly OutboundQueue _outbound;
    private readonly ILogger _log;
    private readonly long _openedTimestamp;

    private ProtocolVersion _version;
    private Session? _session;
    private string _clientId = "";
    private WillMessage? _will;
    private ushort _keepAliveSeconds;
    private bool _disconnectReceived;
    private volatile bool _connected;
    private long _lastPacketTimestamp;
    private int _closing;
    // This connection's slot in the broker's ConnectionRegistry, from the start of RunAsync to Cleanup.
    private int _registrySlot;
    private volatile MqttPacket? _finalPacket;
    private string? _closeCause;
    // Bytes of the current buffer already counted (the pipe re-presents unconsumed bytes on the next read).
    private long _bytesSeen;

    public MqttConnection(BrokerContext broker, MessagePool messagePool, IDuplexPipe transport, ConnectionInfo info)
    {
        _messagePool = messagePool;
        _broker = broker;
        _transport = transport;
        _info = info;
        _log = broker.ConnectionLogger;
        _outbound = new OutboundQueue(Math.Max(broker.Options.MaxQueuedMessages, 100), this);
        _openedTimestamp = broker.Time.GetTimestamp();
        _lastPacketTimestamp = _openedTimestamp;
    }

    public string ClientId => _clientId;

    public ProtocolVersion Version => _version;

    public ConnectionInfo Info => _info;

    public bool IsConnected => _connected;

    /// <summary>The authenticated username once CONNACK accepted the client (null before, or anonymous).</summary>
    public string? Username => _connected ? _authenticatedUsername : null;

    public ushort KeepAliveSeconds => _keepAliveSeconds;

    /// <summary>When CONNACK accepted the client (UTC); null before.</summary>
    public DateTimeOffset? ConnectedAt => _connectedAtTicks == 0 ? null : new DateTimeOffset(_connectedAtTicks, TimeSpan.Zero);

    // UTC ticks of ConnectedAt, 0 before CONNACK: 8 bytes per connection where a DateTimeOffset? takes 24.
    private long _connectedAtTicks;

    /// <summary>
    /// Serves the connection until it ends: the read loop runs here (one state machine per connection; the writer
    /// exists only while there is output, see <see cref="WriteAsync"/>). Never throws.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _registrySlot = _broker.Connections.Add(this);
        AdmitTransport();
        // The transport's "closed" token is deliberately not wired to Abort: Kestrel fires it as soon as the peer's FIN
        // arrives, while packets sent just before it (a burst, then DISCONNECT) may still sit unread in the pipe. The
        // read loop ends on its own when the pipe reports completion, after handling every whole frame.
        _ = cancellationToken;
        try
        {
            // The read loop, inline: a separate async method would keep a second state machine per idle connection.
            var input = _transport.Input;
            while (true)
            {
                var result = await input.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (result.IsCanceled || Volatile.Read(ref _closing) != 0)
                {
                    return;
                }
                _lastPacketTimestamp = _broker.Time.GetTimestamp();
                t_congested = null;
                MqttConnection? congested = null;
                Interlocked.Add(ref _broker.Counters.BytesReceived, buffer.Length - _bytesSeen);
                _outbound.BeginDeferring();
                try
                {
                    // A read may hold megabytes of small publishes: stop at the first one that met a congested
                    // subscriber, wait for it below, and take the rest on the next turn.
                    while (Volatile.Read(ref _closing) == 0 && TryHandleFrame(ref buffer))
                    {
                        if (t_congested is { } c)
                        {
                            congested = c;
                            t_congested = null;
                            break;
                        }
                    }
                }
                finally
                {
                    // Consumed up to the last whole frame. Examined all (so the next read waits for more bytes), unless
                    // we stopped early: then the rest is still to be handled and the next read must return at once.
                    _bytesSeen = buffer.Length;
                    input.AdvanceTo(buffer.Start, congested is null ? buffer.End : buffer.Start);
                    if (_outbound.EndDeferring())
                    {
                        // The answers to this read (CONNACK, acks) go out from here, without a hop to the thread pool.
                        _ = WriteAsync();
                    }
                }
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty && Volatile.Read(ref _closing) == 0)
                    {
                        throw new MqttProtocolException(ReasonCode.MalformedPacket, "connection closed in the middle of a packet");
                    }
                    return;
                }
                await _outbound.WaitForRoomAsync().ConfigureAwait(false);
                if (congested is not null)
                {
                    await WaitForCongestedSubscriberAsync(congested, TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                }
            }
        }
        catch (MqttProtocolException ex)
        {
            Interlocked.Increment(ref _broker.Counters.ProtocolErrors);
            if (!_connected && ex.ReasonCode == ReasonCode.UnsupportedProtocolVersion)
            {
                // [MQTT-3.1.2-2]: CONNACK 0x01 (0x84 for a v5 client), then close.
                _finalPacket = new ConnAckPacket { ReasonCode = ReasonCode.UnsupportedProtocolVersion };
            }
            else if (AuthenticatingBeforeConnAck)
            {
                // A protocol error in the middle of an enhanced authentication: CONNACK with the reason, then close.
                _finalPacket = new ConnAckPacket { ReasonCode = ex.ReasonCode };
            }
            _log.LogInformation("Client {ClientId} ({Remote}): {Reason} (0x{Code:X2}); closing connection", DisplayId, _info.RemoteEndPoint, ex.Message, (byte)ex.ReasonCode);
            Abort(ex.ReasonCode, ex.Message);
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            Abort(null, "network error: " + ex.Message);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Client {ClientId} ({Remote}): unexpected error; closing connection", DisplayId, _info.RemoteEndPoint);
            Abort(ReasonCode.ImplementationSpecificError, "internal error");
        }
        finally
        {
            try
            {
                Abort(null, "connection closed by client");
                await FinishWriterAsync().ConfigureAwait(false);
                Cleanup();
            }
            finally
            {
                await EndTransportAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Completes both sides of the transport even after an unexpected error: a transport may close its socket only
    /// then (Starling's SocketPipe does; nothing else would). Then the connection no longer counts as running.
    /// </summary>
    private async Task EndTransportAsync()
    {
        try
        {
            await _transport.Input.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await _transport.Output.CompleteAsync().ConfigureAwait(false);
            }
            finally
            {
                _broker.ConnectionEnded();
            }
        }
    }

    /// <summary>Handles one frame if a whole one is buffered; the receive buffer is valid only during this call.</summary>
    private bool TryHandleFrame(ref ReadOnlySequence<byte> buffer)
    {
        var status = FrameScanner.TryReadHeader(buffer, _broker.Options.MaxPacketSize, out var header, out var error);
        if (status == OperationStatus.NeedMoreData)
        {
            return false;
        }
        if (status != OperationStatus.Done)
        {
            throw new MqttProtocolException(error, error == ReasonCode.PacketTooLarge
                ? $"packet larger than the maximum packet size ({_broker.Options.MaxPacketSize} bytes)"
                : "malformed fixed header");
        }
        if (buffer.Length < header.TotalLength)
        {
            return false;
        }
        if (!_connected && !AcceptedBeforeConnAck(header.Type))
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError, $"first packet must be CONNECT, got {header.Type} [MQTT-3.1.0-1]");
        }
        var body = buffer.Slice(header.HeaderLength, header.RemainingLength);
        var connected = _connected;
        if (connected && header.Type is PacketType.Publish)
        {
            // The hot path: no packet object, and a repeated topic reuses the last one's string and bytes.
            var publish = PacketDecoder.DecodePublish(header, body, _version, _lastTopic,
                _version == ProtocolVersion.V500 ? _publishProperties ??= new PublishPropertiesCache() : null);
            _lastTopic = publish.Topic ?? _lastTopic;
            HandlePublish(publish);
        }
        else if (connected && header.Type is PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp)
        {
            HandleAck(PacketDecoder.DecodePubAck(header, body, _version));
        }
        else
        {
            Dispatch(PacketDecoder.Decode(header, body, connected || AuthenticatingBeforeConnAck ? _version : ProtocolVersion.Unknown));
        }
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    private void Dispatch(MqttPacket packet)
    {
        switch (packet)
        {
            case ConnectPacket connect when !_connected:
                HandleConnect(connect);
                break;
            case ConnectPacket:
                throw new MqttProtocolException(ReasonCode.ProtocolError, "second CONNECT on one connection [MQTT-3.1.0-2]");
            case SubscribePacket subscribe:
                HandleSubscribe(subscribe);
                break;
            case UnsubscribePacket unsubscribe:
                HandleUnsubscribe(unsubscribe);
                break;
            case PingReqPacket:
                SendControl(PingRespPacket.Instance);
                break;
            case DisconnectPacket disconnect:
                HandleDisconnect(disconnect);
                break;
            case AuthPacket auth when _version == ProtocolVersion.V500:
                HandleAuth(auth);
                break;
            default:
                throw new MqttProtocolException(ReasonCode.ProtocolError, $"a client may not send {packet.Type}");
        }
    }

    private void HandleDisconnect(DisconnectPacket disconnect)
    {
        // DISCONNECT discards the will [MQTT-3.14.4-3], except v5 reason 0x04 which asks for it.
        _disconnectReceived = disconnect.ReasonCode != ReasonCode.DisconnectWithWillMessage;
        if (_version == ProtocolVersion.V500 && disconnect.Properties?.SessionExpiryInterval is uint expiry && _session is not null)
        {
            if (_session.ExpiryInterval == 0 && expiry != 0)
            {
                // [MQTT-3.14.2-2]: may not turn a connection-scoped session into a persistent one.
                _disconnectReceived = false;
                throw new MqttProtocolException(ReasonCode.ProtocolError, "Session Expiry Interval set on DISCONNECT after 0 in CONNECT");
            }
            _session.ExpiryInterval = Math.Min(expiry, _broker.Options.MaxSessionExpiryInterval);
        }
        Abort(null, disconnect.ReasonCode == ReasonCode.DisconnectWithWillMessage ? "DISCONNECT with will" : "DISCONNECT");
    }

    /// <summary>Heartbeat check: connect timeout and keep-alive (1.5 x) [MQTT-3.1.2-24]; releases idle queue storage.</summary>
    public void CheckTimeouts(long now)
    {
        if (Volatile.Read(ref _closing) != 0)
        {
            return;
        }
        _outbound.Trim();
        if (!_connected)
        {
            if (_broker.Time.GetElapsedTime(_openedTimestamp, now) > _broker.Options.ConnectTimeout)
            {
                _log.LogInformation("Connection {Remote}: no CONNECT within {Timeout}; closing", _info.RemoteEndPoint, _broker.Options.ConnectTimeout);
                Abort(null, "connect timeout");
            }
            return;
        }
        if (_keepAliveSeconds > 0
            && _broker.Time.GetElapsedTime(Volatile.Read(ref _lastPacketTimestamp), now) > TimeSpan.FromMilliseconds(_keepAliveSeconds * 1500L))
        {
            _log.LogInformation("Client {ClientId} ({Remote}): keep-alive of {KeepAlive} s expired; closing", DisplayId, _info.RemoteEndPoint, _keepAliveSeconds);
            Abort(ReasonCode.KeepAliveTimeout, "keep-alive timeout");
        }
    }

    /// <summary>A newer connection took the session over [MQTT-3.1.4-2].</summary>
    public void TakeOver()
    {
        _log.LogInformation("Client {ClientId} ({Remote}): session taken over by a new connection", DisplayId, _info.RemoteEndPoint);
        Abort(ReasonCode.SessionTakenOver, "session taken over");
    }

    /// <summary>
    /// Starts closing: a v5 client gets DISCONNECT with <paramref name="reason"/> when one is given, then the writer
    /// stops and the read loop is released. Idempotent and callable from any thread.
    /// </summary>
    public void Abort(ReasonCode? reason, string cause)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }
        _closeCause = cause;
        if (reason is { } code && _connected && _version == ProtocolVersion.V500 && _finalPacket is null)
        {
            // A reason string helps whoever debugs the client; skipped if the client's maximum packet size is tiny.
            _finalPacket = new DisconnectPacket
            {
                ReasonCode = code,
                Properties = _clientMaxPacketSize >= 512 ? new MqttProperties { ReasonString = cause } : null,
            };
        }
        _outbound.Complete();
        _outbound.ReleaseWaiters();
        _transport.Input.CancelPendingRead();
    }

    private void Cleanup()
    {
        _broker.Connections.Remove(_registrySlot);
        ReleaseTransport();
        if (!_connected)
        {
            return;
        }
        _broker.OnDisconnected();
        _log.LogInformation("Client {ClientId} ({Remote}) disconnected: {Cause}", _clientId, _info.RemoteEndPoint, _closeCause);
        var session = _session!;
        var detached = session.Detach(this);
        if (_will is { } will && !_disconnectReceived)
        {
            var delay = will.Properties?.WillDelayInterval ?? 0;
            if (delay == 0 || (detached && session.ExpiryInterval == 0) || session.IsEnded)
            {
                _broker.PublishWill(will, _clientId);
            }
            else if (detached)
            {
                session.ScheduleWill(will, Math.Min(delay, session.ExpiryInterval));
            }
            // else: a new connection resumed the session before the delay passed: no will [MQTT-3.1.3-9].
        }
        if (detached)
        {
            var orphans = session.TakeSharedForRedistribution();
            if (session.ExpiryInterval == 0)
            {
                _broker.Sessions.Discard(session);
            }
            if (orphans is not null)
            {
                Router.Redistribute(orphans);
            }
        }
    }

    private string DisplayId => _connected ? _clientId : "(not connected)";

    private static bool IsTransportFault(Exception ex)
        => ex is IOException or ObjectDisposedException or OperationCanceledException; // Kestrel's reset/abort derive from these
}
