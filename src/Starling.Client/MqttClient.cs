using System.Net.Sockets;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Client;

/// <summary>
/// A small asynchronous MQTT 3.1/3.1.1/5.0 client over TCP. One connection per instance: <see cref="ConnectAsync"/>
/// once, then publish/subscribe; after a disconnect, create a new client. Thread-safe: any number of callers may
/// publish at once (writes are serialized; the socket pump sends what accumulated in one system call). Inbound
/// messages arrive on <see cref="Messages"/>, which must be drained (it is unbounded); acknowledgements (PUBACK,
/// PUBREC/PUBREL/PUBCOMP) and PINGREQ are automatic. QoS 1/2 flows are not resent after a reconnect.
/// </summary>
public sealed partial class MqttClient : IAsyncDisposable
{
    private const int StateNew = 0;
    private const int StateConnecting = 1;
    private const int StateConnected = 2;
    private const int StateClosed = 3;
    private const int ProtocolMaxPacketSize = 268_435_460;

    private readonly Channel<ReceivedMessage> _messages =
        Channel.CreateUnbounded<ReceivedMessage>(new UnboundedChannelOptions { SingleWriter = true, AllowSynchronousContinuations = false });
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly PendingRequests _pending = new();
    private readonly TaskCompletionSource<MqttDisconnectInfo> _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _closing = new();
    private readonly Lock _closeLock = new();

    private SocketTransport? _transport;
    private TaskCompletionSource<ConnAckPacket>? _connAck;
    private SemaphoreSlim? _sendQuota;
    private Action<MqttPacket, bool>? _trace;
    private ProtocolVersion _version;
    private int _maxInboundPacketSize = ProtocolMaxPacketSize;
    private long _serverMaxPacketSize = ProtocolMaxPacketSize;
    private long _lastSendTicks;
    private long _pingSentTicks;
    private int _state;
    private bool _outputCompleted;
    private Task? _closeTask;
    private Task _readLoop = Task.CompletedTask;
    private Task _keepAliveLoop = Task.CompletedTask;

    /// <summary>Messages delivered by the server, in arrival order. Completes when the connection ends.</summary>
    public ChannelReader<ReceivedMessage> Messages => _messages.Reader;

    /// <summary>Completes, never faults, when the connection ends, with who ended it and why.</summary>
    public Task<MqttDisconnectInfo> Disconnected => _disconnected.Task;

    /// <summary>True between a successful CONNACK and the end of the connection.</summary>
    public bool IsConnected => Volatile.Read(ref _state) == StateConnected;

    /// <summary>The protocol version of this connection.</summary>
    public ProtocolVersion ProtocolVersion => _version;

    /// <summary>The client id in use: the one asked for, or the one a v5 server assigned.</summary>
    public string? ClientId { get; private set; }

    /// <summary>The server's CONNACK, once received.</summary>
    public ConnAckPacket? ConnAck { get; private set; }

    /// <summary>The keep-alive in force (the server's Server Keep Alive when it sent one), in seconds.</summary>
    public int KeepAliveSeconds { get; private set; }

    /// <summary>
    /// Opens the TCP connection, sends CONNECT and returns the CONNACK. A CONNACK refusing the connection (reason code
    /// 0x80 or above) is returned, not thrown, and the connection is then closed: check <c>ReasonCode</c>.
    /// </summary>
    /// <exception cref="MqttClientException">The server cannot be reached, or no CONNACK arrived within the connect timeout.</exception>
    public async Task<ConnAckPacket> ConnectAsync(MqttClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ProtocolVersion is not (ProtocolVersion.V310 or ProtocolVersion.V311 or ProtocolVersion.V500))
        {
            throw new ArgumentException("ProtocolVersion must be V310, V311 or V500.", nameof(options));
        }
        if (options.Port is < 1 or > 65535)
        {
            throw new ArgumentException("Port must be between 1 and 65535.", nameof(options));
        }
        if (Interlocked.CompareExchange(ref _state, StateConnecting, StateNew) != StateNew)
        {
            throw new InvalidOperationException("ConnectAsync can be called once per MqttClient; create a new client to connect again.");
        }

        _version = options.ProtocolVersion;
        _trace = options.PacketTrace;
        _maxInboundPacketSize = (int)Math.Min(options.MaximumPacketSize ?? ProtocolMaxPacketSize, ProtocolMaxPacketSize);
        ClientId = options.ClientId;
        var where = $"{options.Host}:{options.Port}";

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        try
        {
            _transport = await SocketTransport.ConnectAsync(options.Host, options.Port, options.Tls, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            var error = ex is SocketException socket
                ? new MqttClientException($"Cannot connect to {where}: {socket.Message}", ex)
                : cancellationToken.IsCancellationRequested
                    ? null
                    : new MqttClientException($"Cannot connect to {where}: no answer within {options.ConnectTimeout.TotalSeconds:0.#} s", ex);
            await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Error, null, null, ex, error?.Message ?? "connect cancelled")).ConfigureAwait(false);
            if (error is null)
            {
                throw;
            }
            throw error;
        }

        _connAck = new TaskCompletionSource<ConnAckPacket>(TaskCreationOptions.RunContinuationsAsynchronously);
        _readLoop = Task.Run(() => ReadLoopAsync(_transport), CancellationToken.None);

        ConnAckPacket connAck;
        try
        {
            await SendPacketAsync(ConnectPacketFactory.Create(options), timeout.Token).ConfigureAwait(false);
            connAck = await _connAck.Task.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            var message = $"No CONNACK from {where} within {options.ConnectTimeout.TotalSeconds:0.#} s";
            await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Error, null, null, ex, message)).ConfigureAwait(false);
            throw new MqttClientException(message, ex);
        }
        catch (OperationCanceledException ex)
        {
            await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Client, null, null, ex, "connect cancelled")).ConfigureAwait(false);
            throw;
        }

        ConnAck = connAck;
        if (ReasonCodes.IsError(connAck.ReasonCode))
        {
            // The read loop closes the connection on a refusing CONNACK; wait so the state is settled on return.
            await _disconnected.Task.ConfigureAwait(false);
            return connAck;
        }

        var properties = connAck.Properties;
        if (properties?.AssignedClientIdentifier is { } assigned)
        {
            ClientId = assigned;
        }
        KeepAliveSeconds = properties?.ServerKeepAlive ?? options.KeepAliveSeconds;
        if (properties?.MaximumPacketSize is { } serverMax)
        {
            _serverMaxPacketSize = serverMax;
        }
        if (_version == ProtocolVersion.V500)
        {
            var receiveMaximum = properties?.ReceiveMaximum ?? ushort.MaxValue;
            _sendQuota = new SemaphoreSlim(receiveMaximum, receiveMaximum);
        }
        if (Interlocked.CompareExchange(ref _state, StateConnected, StateConnecting) != StateConnecting)
        {
            var info = await _disconnected.Task.ConfigureAwait(false);
            throw new MqttClientException($"Connection to {where} lost right after CONNACK: {info.Description}", info.Exception);
        }
        if (KeepAliveSeconds > 0)
        {
            _keepAliveLoop = Task.Run(() => KeepAliveLoopAsync(KeepAliveSeconds), CancellationToken.None);
        }
        return connAck;
    }

    /// <summary>
    /// Sends DISCONNECT (v5: with <paramref name="reasonCode"/>, e.g. 0x04 to have the server publish the will) and
    /// closes the connection after what was written has been sent. Does nothing when not connected.
    /// </summary>
    public async Task DisconnectAsync(ReasonCode reasonCode = ReasonCode.Success, MqttProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _state) != StateConnected || _transport is not { } transport)
        {
            return;
        }
        var packet = _version == ProtocolVersion.V500
            ? new DisconnectPacket { ReasonCode = reasonCode, Properties = properties }
            : new DisconnectPacket { ReasonCode = ReasonCode.Success };
        try
        {
            await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (!_outputCompleted)
                {
                    _trace?.Invoke(packet, true);
                    PacketEncoder.Write(transport.Output, packet, _version);
                    await transport.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    _outputCompleted = true;
                    await transport.Output.CompleteAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                _writeLock.Release();
            }
            await transport.DrainAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The connection is going away either way.
        }
        finally
        {
            await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Client, reasonCode, null, null,
                $"client disconnected: {ReasonCodes.Format(reasonCode, PacketType.Disconnect)}")).ConfigureAwait(false);
        }
    }

    /// <summary>Disconnects normally if still connected, then releases the socket and waits for the client's loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await DisconnectAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Disposal never throws.
        }
        await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Client, null, null, null, "client disposed")).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_readLoop, _keepAliveLoop).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Both loops report through Disconnected.
        }
    }

    private void EnsureConnected()
    {
        if (Volatile.Read(ref _state) != StateConnected)
        {
            throw NotConnected();
        }
    }

    private MqttClientException NotConnected()
    {
        var why = _disconnected.Task.IsCompleted ? $": {_disconnected.Task.Result.Description}" : "";
        return new MqttClientException($"The client is not connected{why}.");
    }

    /// <summary>Writes one control packet and flushes it.</summary>
    private async ValueTask SendPacketAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        var transport = _transport ?? throw NotConnected();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_outputCompleted)
            {
                throw NotConnected();
            }
            _trace?.Invoke(packet, true);
            PacketEncoder.Write(transport.Output, packet, _version);
            await FlushLockedAsync(transport).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async ValueTask FlushLockedAsync(SocketTransport transport)
    {
        Volatile.Write(ref _lastSendTicks, Environment.TickCount64);
        System.IO.Pipelines.FlushResult result;
        try
        {
            result = await transport.Output.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw new MqttClientException($"Connection lost: {ex.Message}", ex);
        }
        if (result.IsCompleted || result.IsCanceled)
        {
            throw NotConnected();
        }
    }

    /// <summary>Registers <paramref name="request"/> under a free packet id; throws when the connection has ended.</summary>
    private ushort Register(PendingRequest request)
        => Volatile.Read(ref _state) != StateClosed && _pending.TryRegister(request, out var packetId) ? packetId : throw NotConnected();

    private async ValueTask<MqttPacket> WaitForAckAsync(PendingRequest request, CancellationToken cancellationToken)
    {
        MqttPacket result;
        // A cancelled or failed request is not pooled: its packet id stays reserved until the ack (or the disconnect).
        using (cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((PendingRequest)state!).TrySetException(new OperationCanceledException(token)), request)
            : default)
        {
            result = await request.AsValueTask().ConfigureAwait(false);
        }
        _pending.Return(request);
        return result;
    }

    /// <summary>Ends the connection once: fails what is outstanding, completes <see cref="Messages"/> and <see cref="Disconnected"/>.</summary>
    private Task CloseAsync(MqttDisconnectInfo info)
    {
        lock (_closeLock)
        {
            return _closeTask ??= CloseCoreAsync(info);
        }
    }

    private async Task CloseCoreAsync(MqttDisconnectInfo info)
    {
        Volatile.Write(ref _state, StateClosed);
        await _closing.CancelAsync().ConfigureAwait(false);
        _connAck?.TrySetException(new MqttClientException($"Connection closed before CONNACK: {info.Description}", info.Exception));
        foreach (var request in _pending.TakeAllAndClose())
        {
            request.TrySetException(new MqttClientException($"Connection closed before the acknowledgement: {info.Description}", info.Exception));
        }
        _messages.Writer.TryComplete();
        if (_transport is { } transport)
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }
        _disconnected.TrySetResult(info);
    }
}
