using System.Buffers;
using System.Net.Sockets;
using System.Text;
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
    private const int MaxPooledRequests = 256;
    private const int ProtocolMaxPacketSize = 268_435_460;

    private readonly Channel<ReceivedMessage> _messages =
        Channel.CreateUnbounded<ReceivedMessage>(new UnboundedChannelOptions { SingleWriter = true, AllowSynchronousContinuations = false });
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<ushort, PendingRequest> _pending = [];
    private readonly Stack<PendingRequest> _requestPool = new();
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
    private ushort _nextPacketId;
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
            await SendPacketAsync(BuildConnect(options), timeout.Token).ConfigureAwait(false);
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

    private static ConnectPacket BuildConnect(MqttClientOptions o)
    {
        MqttProperties? properties = null;
        if (o.ProtocolVersion == ProtocolVersion.V500)
        {
            properties = o.ConnectProperties?.Clone();
            if (o.SessionExpiryInterval is { } expiry)
            {
                (properties ??= new MqttProperties()).SessionExpiryInterval = expiry;
            }
            if (o.ReceiveMaximum is { } receiveMaximum)
            {
                (properties ??= new MqttProperties()).ReceiveMaximum = receiveMaximum;
            }
            if (o.MaximumPacketSize is { } maximumPacketSize)
            {
                (properties ??= new MqttProperties()).MaximumPacketSize = maximumPacketSize;
            }
            if (o.TopicAliasMaximum is { } topicAliasMaximum)
            {
                (properties ??= new MqttProperties()).TopicAliasMaximum = topicAliasMaximum;
            }
        }
        return new ConnectPacket
        {
            ProtocolName = o.ProtocolVersion == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = o.ProtocolVersion,
            CleanSession = o.CleanSession,
            KeepAliveSeconds = o.KeepAliveSeconds,
            ClientId = o.ClientId,
            Username = o.Username,
            Password = o.Password,
            Will = o.Will,
            Properties = properties,
        };
    }

    /// <summary>
    /// Publishes one message. QoS 0 completes once the packet is handed to the socket; QoS 1 when the PUBACK arrives,
    /// QoS 2 when the PUBCOMP arrives (or an error PUBREC). Returns the reason code of that acknowledgement (always
    /// Success for 3.1.1, where acks carry none). The payload is copied before this returns or awaits.
    /// </summary>
    /// <exception cref="MqttClientException">Not connected, or the connection ended before the flow completed.</exception>
    public ValueTask<ReasonCode> PublishAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos = QualityOfService.AtMostOnce,
        bool retain = false, MqttProperties? properties = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!TopicValidator.IsValidTopicName(topic) && !(topic.Length == 0 && _version == ProtocolVersion.V500 && properties?.TopicAlias is not null))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic name: it must be non-empty and contain no '+' or '#'.", nameof(topic));
        }
        if (qos > QualityOfService.ExactlyOnce)
        {
            throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS 0, 1 or 2");
        }
        EnsureConnected();
        if (_version != ProtocolVersion.V500)
        {
            properties = null;
        }
        return qos == QualityOfService.AtMostOnce
            ? PublishQoS0Async(topic, payload, retain, properties, cancellationToken)
            : PublishWithAckAsync(topic, payload, qos, retain, properties, cancellationToken);
    }

    private async ValueTask<ReasonCode> PublishQoS0Async(string topic, ReadOnlyMemory<byte> payload, bool retain, MqttProperties? properties,
        CancellationToken cancellationToken)
    {
        await SendPublishAsync(topic, payload, QualityOfService.AtMostOnce, retain, 0, properties, cancellationToken).ConfigureAwait(false);
        return ReasonCode.Success;
    }

    private async ValueTask<ReasonCode> PublishWithAckAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain,
        MqttProperties? properties, CancellationToken cancellationToken)
    {
        // The server's Receive Maximum bounds our unacknowledged QoS 1/2 publishes (v5; 3.1.1 has no such limit).
        var quota = _sendQuota;
        if (quota is not null)
        {
            await quota.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        try
        {
            var request = RentRequest(qos == QualityOfService.AtLeastOnce ? PacketType.PubAck : PacketType.PubComp);
            var packetId = Register(request);
            try
            {
                await SendPublishAsync(topic, payload, qos, retain, packetId, properties, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Unregister(packetId, request);
                throw;
            }
            var ack = await WaitForAckAsync(request, cancellationToken).ConfigureAwait(false);
            return ack is PubAckPacket pubAck ? pubAck.ReasonCode : ReasonCode.UnspecifiedError;
        }
        finally
        {
            quota?.Release();
        }
    }

    private async ValueTask SendPublishAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain, ushort packetId,
        MqttProperties? properties, CancellationToken cancellationToken)
    {
        var transport = _transport ?? throw NotConnected();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_outputCompleted)
            {
                throw NotConnected();
            }
            WritePublish(transport, topic, payload, qos, retain, packetId, properties);
            await FlushLockedAsync(transport).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void WritePublish(SocketTransport transport, string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain,
        ushort packetId, MqttProperties? properties)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(topic.Length);
        byte[]? rented = null;
        Span<byte> topicBuffer = maxBytes <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var topicLength = Encoding.UTF8.GetBytes(topic, topicBuffer);
            var size = PublishEncoder.GetSize(_version, topicLength, payload.Length, qos, properties);
            if (size > _serverMaxPacketSize)
            {
                throw new MqttClientException(
                    $"The PUBLISH to '{topic}' is {size} bytes; the server accepts at most {_serverMaxPacketSize}.", ReasonCode.PacketTooLarge);
            }
            if (_trace is { } trace)
            {
                trace(new PublishPacket
                {
                    Topic = topic, Payload = new ReadOnlySequence<byte>(payload), QoS = qos, Retain = retain, PacketId = packetId, Properties = properties,
                }, true);
            }
            PublishEncoder.Write(transport.Output, _version, topicBuffer[..topicLength], new ReadOnlySequence<byte>(payload), qos, retain,
                dup: false, packetId, properties);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Subscribes to one topic filter with default options.</summary>
    public Task<SubAckPacket> SubscribeAsync(string topicFilter, QualityOfService qos = QualityOfService.AtMostOnce,
        CancellationToken cancellationToken = default)
        => SubscribeAsync([new TopicSubscription(topicFilter, new SubscriptionOptions(qos))], null, cancellationToken);

    /// <summary>
    /// Sends SUBSCRIBE and returns the SUBACK: one reason code per filter (granted QoS 0x00-0x02, or a failure 0x80 and
    /// above). <paramref name="properties"/> (v5) may carry a Subscription Identifier and user properties.
    /// </summary>
    public async Task<SubAckPacket> SubscribeAsync(IEnumerable<TopicSubscription> subscriptions, MqttProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscriptions);
        var list = subscriptions.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("SUBSCRIBE needs at least one topic filter.", nameof(subscriptions));
        }
        foreach (var subscription in list)
        {
            if (!TopicValidator.IsValidTopicFilter(subscription.TopicFilter))
            {
                throw new ArgumentException($"'{subscription.TopicFilter}' is not a valid topic filter.", nameof(subscriptions));
            }
        }
        EnsureConnected();
        var ack = await RequestAsync(PacketType.SubAck, id => new SubscribePacket
        {
            PacketId = id, Subscriptions = list, Properties = _version == ProtocolVersion.V500 ? properties : null,
        }, cancellationToken).ConfigureAwait(false);
        return (SubAckPacket)ack;
    }

    /// <summary>Sends UNSUBSCRIBE and returns the UNSUBACK (v5 carries one reason code per filter; 3.1.1 none).</summary>
    public async Task<UnsubAckPacket> UnsubscribeAsync(IEnumerable<string> topicFilters, MqttProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topicFilters);
        var list = topicFilters.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("UNSUBSCRIBE needs at least one topic filter.", nameof(topicFilters));
        }
        EnsureConnected();
        var ack = await RequestAsync(PacketType.UnsubAck, id => new UnsubscribePacket
        {
            PacketId = id, TopicFilters = list, Properties = _version == ProtocolVersion.V500 ? properties : null,
        }, cancellationToken).ConfigureAwait(false);
        return (UnsubAckPacket)ack;
    }

    private async Task<MqttPacket> RequestAsync(PacketType expected, Func<ushort, MqttPacket> build, CancellationToken cancellationToken)
    {
        var request = RentRequest(expected);
        var packetId = Register(request);
        try
        {
            await SendPacketAsync(build(packetId), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Unregister(packetId, request);
            throw;
        }
        return await WaitForAckAsync(request, cancellationToken).ConfigureAwait(false);
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

    private PendingRequest RentRequest(PacketType expected)
    {
        PendingRequest? request;
        lock (_requestPool)
        {
            _requestPool.TryPop(out request);
        }
        request ??= new PendingRequest();
        request.Expected = expected;
        return request;
    }

    private void ReturnRequest(PendingRequest request)
    {
        request.Reset();
        lock (_requestPool)
        {
            if (_requestPool.Count < MaxPooledRequests)
            {
                _requestPool.Push(request);
            }
        }
    }

    /// <summary>Allocates a packet id not in use by any outstanding PUBLISH, SUBSCRIBE or UNSUBSCRIBE.</summary>
    private ushort Register(PendingRequest request)
    {
        lock (_pending)
        {
            if (Volatile.Read(ref _state) == StateClosed)
            {
                throw NotConnected();
            }
            if (_pending.Count >= ushort.MaxValue)
            {
                throw new MqttClientException("All 65535 packet identifiers are in use by unacknowledged requests.");
            }
            do
            {
                _nextPacketId = _nextPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextPacketId + 1);
            }
            while (_pending.ContainsKey(_nextPacketId));
            _pending.Add(_nextPacketId, request);
            return _nextPacketId;
        }
    }

    private void Unregister(ushort packetId, PendingRequest request)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(packetId, out var current) && ReferenceEquals(current, request))
            {
                _pending.Remove(packetId);
            }
        }
    }

    /// <summary>Removes and returns the request waiting for <paramref name="type"/> with this packet id, if any.</summary>
    private PendingRequest? TakeRequest(ushort packetId, PacketType type)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(packetId, out var request) && request.Expected == type)
            {
                _pending.Remove(packetId);
                return request;
            }
            return null;
        }
    }

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
        ReturnRequest(request);
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
        List<PendingRequest> failed;
        lock (_pending)
        {
            failed = [.. _pending.Values];
            _pending.Clear();
        }
        foreach (var request in failed)
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
