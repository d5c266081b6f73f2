using System.Buffers;
using System.IO.Pipelines;
using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// One transport stream carrying MQTT packets: the read loop (frame scan, decode, dispatch to the handlers) and the
/// connection's life (admission, timeouts, close, cleanup). Output goes through its <see cref="ConnectionWriter"/>;
/// CONNECT, AUTH, PUBLISH and SUBSCRIBE are handled by the broker-wide handlers in <see cref="ConnectionServices"/>
/// over this connection's <see cref="ConnectionState"/>. The read loop alone mutates the fields below that are not
/// marked volatile; other threads only enqueue output or call <see cref="Abort"/>.
/// </summary>
internal sealed class MqttConnection : ISessionOwner
{
    private readonly ConnectionServices _services;
    private readonly IDuplexPipe _transport;
    private readonly ConnectionInfo _info;
    private readonly ConnectionWriter _writer;
    private readonly long _openedTimestamp;

    private ConnectionState _state;
    private volatile bool _connected;
    private long _lastPacketTimestamp;
    private int _closing;
    private volatile MqttPacket? _finalPacket;
    private string? _closeCause;
    // Bytes of the current buffer already counted (the pipe re-presents unconsumed bytes on the next read).
    private long _bytesSeen;
    private AdmissionTicket _admission;

    public MqttConnection(ConnectionServices services, IDuplexPipe transport, ConnectionInfo info)
    {
        _services = services;
        _transport = transport;
        _info = info;
        _state.ClientId = "";
        _writer = new ConnectionWriter(this, services);
        _openedTimestamp = services.Time.GetTimestamp();
        _lastPacketTimestamp = _openedTimestamp;
    }

    public string ClientId => _state.ClientId;

    public ProtocolVersion Version => _state.Version;

    public ConnectionInfo Info => _info;

    public bool IsConnected => _connected;

    /// <summary>Closing has begun (<see cref="Abort"/>); any thread.</summary>
    public bool IsClosing => Volatile.Read(ref _closing) != 0;

    /// <summary>The authenticated username once CONNACK accepted the client (null before, or anonymous).</summary>
    public string? Username => _connected ? _state.AuthenticatedUsername : null;

    public ushort KeepAliveSeconds => _state.KeepAliveSeconds;

    /// <summary>When CONNACK accepted the client (UTC); null before.</summary>
    public DateTimeOffset? ConnectedAt => _state.ConnectedAtTicks == 0 ? null : new DateTimeOffset(_state.ConnectedAtTicks, TimeSpan.Zero);

    /// <summary>The client's permissions (null: everything allowed); set at CONNECT.</summary>
    public IClientAuthorization? Authorization => _state.Authorization;

    /// <summary>The connection's output: queue, writer, and the session's <see cref="IDeliverySink"/>.</summary>
    public ConnectionWriter Writer => _writer;

    /// <summary>The handlers' view of this connection (read loop only).</summary>
    public ref ConnectionState State => ref _state;

    public IDuplexPipe Transport => _transport;

    /// <summary>The broker's services shared by every connection (also the writer's, through this owner).</summary>
    public ConnectionServices Services => _services;

    /// <summary>The packet written last on close (a CONNACK refusal or a v5 DISCONNECT), if any.</summary>
    public MqttPacket? FinalPacket => _finalPacket;

    /// <summary>Between a CONNECT with a known Authentication Method and its CONNACK.</summary>
    public bool AuthenticatingBeforeConnAck => _state.EnhancedAuth?.PendingConnect is not null && !_connected;

    public string DisplayId => _connected ? _state.ClientId : "(not connected)";

    /// <summary>The session's outbound flow sends through the writer (<see cref="ISessionOwner.Sink"/>).</summary>
    public IDeliverySink Sink => _writer;

    /// <summary>
    /// Serves the connection until it ends: the read loop runs here (one state machine per connection; the writer
    /// exists only while there is output, see <see cref="ConnectionWriter.WriteAsync"/>). Never throws.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _admission.RegistrySlot = _services.Registry.Add(this);
        // This connection is already counted in RunningConnections (MqttBroker.RunConnectionAsync); lingering
        // sockets of ended ones hold descriptors too.
        if (!_admission.TryAdmit(_services.Security, _info.RemoteEndPoint, _services.Registry.OpenTransports))
        {
            Abort(null, "connection limit");
        }
        // The transport's "closed" token is deliberately not wired to Abort: Kestrel fires it as soon as the peer's FIN
        // arrives, while packets sent just before it (a burst, then DISCONNECT) may still sit unread in the pipe. The
        // read loop ends on its own when the pipe reports completion, after handling every whole frame.
        _ = cancellationToken;
        try
        {
            // The read loop, inline: a separate async method would keep a second state machine per idle connection.
            while (true)
            {
                var pause = HandleRead(await _transport.Input.ReadAsync(CancellationToken.None).ConfigureAwait(false), out var stop);
                if (stop)
                {
                    return;
                }
                await _writer.WaitForRoomAsync().ConfigureAwait(false);
                if (pause.Subscriber is { } congested)
                {
                    await ConnectionWriter.WaitForCongestedSubscriberAsync(congested, TimeSpan.FromMilliseconds(100)).ConfigureAwait(false);
                }
                if (pause.Store)
                {
                    await _services.Publish.WaitForStoreRoomAsync(this).ConfigureAwait(false);
                }
            }
        }
        catch (MqttProtocolException ex)
        {
            Interlocked.Increment(ref _services.Counters.ProtocolErrors);
            if (ex.UserPropertyBytesExceeded)
            {
                Interlocked.Increment(ref _services.Counters.UserPropertyBytesRefused);
                _services.Limits.Write(LimitCause.UserPropertyBytes, LogText.Escape(DisplayId));
            }
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
            ConnectionLog.ProtocolErrorThrottled(_services.Log, _services.Security.ProtocolErrorLog, DisplayId, _info.RemoteEndPoint, ex.Message, (byte)ex.ReasonCode);
            Abort(ex.ReasonCode, ex.Message);
        }
        catch (Exception ex) when (TransportFaults.IsTransportFault(ex))
        {
            Abort(null, "network error: " + ex.Message);
        }
        catch (Exception ex)
        {
            ConnectionLog.UnexpectedError(_services.Log, ex, LogText.Escape(DisplayId), _info.RemoteEndPoint);
            Abort(ReasonCode.ImplementationSpecificError, "internal error");
        }
        finally
        {
            try
            {
                Abort(null, "connection closed by client");
                await _writer.FinishAsync().ConfigureAwait(false);
                Cleanup();
            }
            finally
            {
                await EndTransportAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Handles every whole frame of one read. Returns what the read loop must wait for before reading on (a congested
    /// subscriber a QoS 0 publish met, a store writer queue past its limits), and sets <paramref name="stop"/> when the loop must end. A method of its own so that the read result
    /// and its buffer are not hoisted into RunAsync's state machine box (~60 B per idle connection).
    /// </summary>
    private ReadPause HandleRead(ReadResult result, out bool stop)
    {
        stop = true;
        var buffer = result.Buffer;
        if (result.IsCanceled || Volatile.Read(ref _closing) != 0)
        {
            return default;
        }
        _lastPacketTimestamp = _services.Time.GetTimestamp();
        var pause = default(ReadPause);
        Interlocked.Add(ref _services.Counters.BytesReceived, buffer.Length - _bytesSeen);
        _writer.BeginDeferring();
        try
        {
            // A read may hold megabytes of small publishes: stop at the first one that met a congested
            // subscriber, wait for it in the read loop, and take the rest on the next turn.
            while (Volatile.Read(ref _closing) == 0 && TryHandleFrame(ref buffer, out var p))
            {
                if (!p.IsNone)
                {
                    pause = p;
                    break;
                }
            }
        }
        finally
        {
            // Consumed up to the last whole frame. Examined all (so the next read waits for more bytes), unless
            // we stopped early: then the rest is still to be handled and the next read must return at once.
            _bytesSeen = buffer.Length;
            _transport.Input.AdvanceTo(buffer.Start, pause.IsNone ? buffer.End : buffer.Start);
            if (_writer.EndDeferring())
            {
                // The answers to this read (CONNACK, acks) go out from here, without a hop to the thread pool.
                _ = _writer.WriteAsync();
            }
        }
        if (result.IsCompleted)
        {
            if (!buffer.IsEmpty && Volatile.Read(ref _closing) == 0)
            {
                throw new MqttProtocolException(ReasonCode.MalformedPacket, "connection closed in the middle of a packet");
            }
            return default;
        }
        stop = false;
        return pause;
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
                _services.Registry.ConnectionEnded();
            }
        }
    }

    /// <summary>Handles one whole buffered frame (the buffer is valid only during this call); <paramref name="pause"/>: what to wait for.</summary>
    private bool TryHandleFrame(ref ReadOnlySequence<byte> buffer, out ReadPause pause)
    {
        pause = default;
        var maxPacketSize = _connected ? _services.Options.MaxPacketSize : PreConnectGuard.MaxFrameSize(this, buffer);
        var status = FrameScanner.TryReadHeader(buffer, maxPacketSize, out var header, out var error);
        if (status == OperationStatus.NeedMoreData)
        {
            return false;
        }
        if (status != OperationStatus.Done)
        {
            throw PreConnectGuard.FrameError(this, error, header.Type, maxPacketSize);
        }
        if (buffer.Length < header.TotalLength)
        {
            return false;
        }
        var body = buffer.Slice(header.HeaderLength, header.RemainingLength);
        var connected = _connected;
        var version = _state.Version;
        if (connected && header.Type is PacketType.Publish)
        {
            // The hot path: no packet object, and a repeated topic reuses the last one's string and bytes.
            var publisher = _state.Publisher ??= new PublisherState();
            var publish = PacketDecoder.DecodePublish(header, body, version, publisher.LastTopic,
                version == ProtocolVersion.V500 ? publisher.Properties ??= new PublishPropertiesCache() : null, _services.Options.UserPropertyByteLimit);
            publisher.LastTopic = publish.Topic ?? publisher.LastTopic;
            pause = _services.Publish.Handle(this, publish);
        }
        else if (connected && header.Type is PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp)
        {
            _services.Publish.HandleAck(this, PacketDecoder.DecodePubAck(header, body, version, _services.Options.UserPropertyByteLimit));
        }
        else
        {
            pause = new ReadPause(PacketDispatch.Dispatch(this, PacketDecoder.Decode(header, body, connected || AuthenticatingBeforeConnAck ? version : ProtocolVersion.Unknown,
                _services.Options.UserPropertyByteLimit)), false);
        }
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    /// <summary>Heartbeat check: connect timeout and keep-alive (1.5 x) [MQTT-3.1.2-24]; releases idle queue storage.</summary>
    public void CheckTimeouts(long now)
    {
        if (Volatile.Read(ref _closing) != 0)
        {
            return;
        }
        _writer.Trim();
        var options = _services.Options;
        if (!_connected)
        {
            if (_services.Time.GetElapsedTime(_openedTimestamp, now) > options.ConnectTimeout)
            {
                ConnectionLog.ConnectTimeoutThrottled(_services.Log, _services.Security.ConnectTimeoutLog, _info.RemoteEndPoint, options.ConnectTimeout);
                Abort(null, "connect timeout");
            }
            return;
        }
        if (_state.Credentials?.EndReason(_services.Time) is { } ended)
        {
            Abort(ended, _services.Security.CredentialsEnded(DisplayId, _info.RemoteEndPoint, ended));
            return;
        }
        var keepAlive = _state.KeepAliveSeconds;
        if (keepAlive > 0
            && _services.Time.GetElapsedTime(Volatile.Read(ref _lastPacketTimestamp), now) > TimeSpan.FromMilliseconds(keepAlive * 1500L))
        {
            ConnectionLog.KeepAliveExpired(_services.Log, LogText.Escape(DisplayId), _info.RemoteEndPoint, keepAlive);
            Abort(ReasonCode.KeepAliveTimeout, "keep-alive timeout");
        }
    }

    /// <summary>A newer connection took the session over [MQTT-3.1.4-2].</summary>
    public void TakeOver()
    {
        ConnectionLog.TakenOver(_services.Log, LogText.Escape(DisplayId), _info.RemoteEndPoint);
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
        if (reason is { } code && _connected && _state.Version == ProtocolVersion.V500 && _finalPacket is null)
        {
            // A reason string helps whoever debugs the client; dropped when it would pass the client's Maximum Packet
            // Size [MQTT-3.14.2-3] (ConnectionWriter.TryFit, before the packet is written).
            _finalPacket = new DisconnectPacket { ReasonCode = code, Properties = new MqttProperties { ReasonString = cause } };
        }
        _writer.Complete();
        _writer.ReleaseWaiters();
        _transport.Input.CancelPendingRead();
    }

    /// <summary>CONNACK with a failure code, then close [MQTT-3.2.2-5]; the session is not touched.</summary>
    public void Refuse(ReasonCode reason, string why, MqttProperties? properties = null)
    {
        Interlocked.Increment(ref _services.Counters.ConnectionsRefused);
        // One line per interval: a client that is refused again and again must not be able to fill the log.
        ConnectionLog.RefusedThrottled(_services.Log, _services.Security.RefusalLog, _info.RemoteEndPoint, (byte)reason, why);
        _finalPacket = new ConnAckPacket { SessionPresent = false, ReasonCode = reason, Properties = properties };
        Abort(null, "CONNECT refused: " + why);
    }

    /// <summary>CONNECT accepted (<see cref="ConnectHandler"/>): from here on the connection is connected and counted.</summary>
    public void MarkConnected()
    {
        _connected = true;
        _services.Registry.OnConnected();
    }

    /// <summary>The client authenticated: it no longer counts against Limits:MaxPendingConnections.</summary>
    public void LeavePending() => _admission.LeavePending(_services.Security);

    private void Cleanup()
    {
        _services.Registry.Remove(_admission.RegistrySlot);
        _admission.Release(_services.Security);
        if (!_connected)
        {
            return;
        }
        ConnectionLog.Disconnected(_services.Log, LogText.Escape(_state.ClientId), _info.RemoteEndPoint, LogText.Escape(_closeCause, 512));
        try
        {
            _services.SessionRelease.Release(this, ref _state);
        }
        finally
        {
            // Counted as connected until its session is detached and its will handled: ConnectedClients == 0 then
            // means every session is offline (its expiry interval running, its queue filling), which callers and
            // tests wait on.
            _services.Registry.OnDisconnected();
        }
    }
}
