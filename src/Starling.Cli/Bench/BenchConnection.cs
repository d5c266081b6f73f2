using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>
/// A lean MQTT connection for load generation (not <c>MqttClient</c>: that one builds a packet object, a payload copy
/// and a channel item per message, which would make the benchmark measure the client). Two loops per connection, no
/// task per message: the read loop scans frames in place (<see cref="FrameScanner"/>), answers acks and counts; the
/// write loop sends whatever accumulated in the pending buffer in one system call (double-buffered). A PUBLISH is a
/// pre-encoded template (<see cref="PublishEncoder"/>) copied with its packet id and send timestamp patched in.
/// </summary>
internal sealed partial class BenchConnection
{
    private const int LinuxSolIp = 0;
    private const int LinuxIpBindAddressNoPort = 24;

    private readonly BenchRun _run;
    private readonly Socket _socket;
    private readonly Lock _gate = new();
    // Synchronous continuations: whoever wakes the write loop (the read loop with its acks, a publish) runs its send
    // at once on its own thread instead of handing it to the thread pool, one hop less per batch. Safe because Wake is
    // never called while _gate is held (the write loop takes _gate).
    private readonly Channel<byte> _wake = Channel.CreateBounded<byte>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, AllowSynchronousContinuations = true });
    private readonly ProtocolVersion _version;
    private TaskCompletionSource<MqttPacket>? _awaiting;
    private byte[] _pending;
    private int _pendingLength;
    private byte[] _spare;
    private byte[] _receive;
    private int _received;
    private byte[]? _template;
    private int _packetIdOffset = -1;
    private int _payloadOffset;
    private ushort _packetId;
    private int _inflight;
    private volatile bool _closing;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;

    // Counters: each is written by one loop only and read by the reporter (64-bit reads are atomic on x64/arm64).
    public long Sent;
    public long Completed;
    public long Received;
    public long Errors;
    public long LastSendTicks = Environment.TickCount64;

    private BenchConnection(BenchRun run, Socket socket, int index, int receiveBuffer, int sendBuffer)
    {
        _run = run;
        _socket = socket;
        _version = run.Settings.Version;
        Index = index;
        _receive = new byte[receiveBuffer];
        _pending = new byte[sendBuffer];
        _spare = new byte[sendBuffer];
    }

    public int Index { get; }

    /// <summary>pub: messages this client may still send in all (long.MaxValue: no limit).</summary>
    public long Quota { get; set; } = long.MaxValue;

    /// <summary>sub: end-to-end latencies (µs) of deliveries in the measured window.</summary>
    public LatencyHistogram? Latency { get; set; }

    /// <summary>Unacknowledged QoS 1/2 publishes allowed (the smaller of --inflight and a v5 server's Receive Maximum).</summary>
    public int InflightCap { get; private set; } = int.MaxValue;

    public int Inflight => Volatile.Read(ref _inflight);

    /// <summary>Set when the connection ended without being asked to (why, for the summary).</summary>
    public string? LostReason { get; private set; }

    public bool IsLost => LostReason is not null;

    /// <summary>True once the pub quota is used up and, for QoS 1/2, everything sent was acknowledged.</summary>
    public bool IsDone => Volatile.Read(ref Sent) >= Quota && Volatile.Read(ref _inflight) == 0;

    /// <summary>
    /// A TCP socket with Nagle off: each batch of publishes or acks leaves at once, as in the reference generator;
    /// with Nagle on, a small write behind unacknowledged data waits for the peer's delayed ACK (up to 40 ms).
    /// </summary>
    internal static Socket CreateSocket(AddressFamily family) => new(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    /// <summary>Opens the TCP connection, sends CONNECT and waits for a successful CONNACK.</summary>
    public static async Task<BenchConnection> ConnectAsync(BenchRun run, int index, int receiveBuffer, int sendBuffer, CancellationToken cancellationToken)
    {
        var settings = run.Settings;
        var socket = CreateSocket(run.Endpoint.AddressFamily);
        try
        {
            if (settings.SourceAddresses.Count > 0)
            {
                var source = settings.SourceAddresses[index % settings.SourceAddresses.Count];
                if (OperatingSystem.IsLinux())
                {
                    // Pick the local port at connect time, per (source, destination) pair, not at bind time: without it
                    // every bound socket takes a port of its own and the 28k ephemeral ports run out per source address.
                    socket.SetRawSocketOption(LinuxSolIp, LinuxIpBindAddressNoPort, BitConverter.GetBytes(1));
                }
                socket.Bind(new IPEndPoint(source, 0));
            }
            await socket.ConnectAsync(run.Endpoint, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new BenchConnection(run, socket, index, receiveBuffer, sendBuffer);
        connection._readLoop = connection.ReadLoopAsync();
        connection._writeLoop = connection.WriteLoopAsync();
        var connect = new ConnectPacket
        {
            ProtocolName = settings.Version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = settings.Version,
            CleanSession = true,
            KeepAliveSeconds = (ushort)settings.KeepAliveSeconds,
            ClientId = settings.ClientIdFor(index),
            Username = settings.Username,
            Password = settings.Password is null ? null : Encoding.UTF8.GetBytes(settings.Password),
        };
        try
        {
            var reply = await connection.RequestAsync(connect, cancellationToken).ConfigureAwait(false);
            if (reply is not ConnAckPacket connAck)
            {
                throw new IOException($"expected CONNACK, got {reply.Type}");
            }
            if (connAck.ReasonCode != ReasonCode.Success)
            {
                throw new IOException($"connection refused: CONNACK 0x{(int)connAck.ReasonCode:X2}");
            }
            var cap = Math.Max(1, settings.Inflight);
            if (connAck.Properties?.ReceiveMaximum is { } receiveMaximum)
            {
                cap = Math.Min(cap, receiveMaximum);
            }
            connection.InflightCap = Math.Min(cap, 60_000); // stay well inside the 16-bit packet id space
            return connection;
        }
        catch
        {
            connection.Abort();
            throw;
        }
    }

    /// <summary>Subscribes to one filter and checks the SUBACK.</summary>
    public async Task SubscribeAsync(string filter, QualityOfService qos, CancellationToken cancellationToken)
    {
        var reply = await RequestAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(filter, new SubscriptionOptions(qos))] },
            cancellationToken).ConfigureAwait(false);
        if (reply is not SubAckPacket subAck || subAck.ReasonCodes.Length != 1 || (int)subAck.ReasonCodes[0] >= 0x80)
        {
            throw new IOException($"subscription to '{filter}' refused");
        }
    }

    /// <summary>Pre-encodes the PUBLISH this client sends (topic, QoS, payload size fixed for the run).</summary>
    public void PreparePublish(string topic, QualityOfService qos, int payloadSize)
    {
        var payload = new byte[payloadSize];
        for (var i = 8; i < payload.Length; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }
        var writer = new ArrayBufferWriter<byte>();
        PublishEncoder.Write(writer, _version, Encoding.UTF8.GetBytes(topic), new ReadOnlySequence<byte>(payload), qos, retain: false, dup: false,
            qos == QualityOfService.AtMostOnce ? (ushort)0 : (ushort)1, properties: null);
        _template = writer.WrittenSpan.ToArray();
        _payloadOffset = _template.Length - payloadSize;
        // v5 puts a one-byte (empty) property length between the packet id and the payload.
        _packetIdOffset = qos == QualityOfService.AtMostOnce ? -1 : _payloadOffset - 2 - (_version == ProtocolVersion.V500 ? 1 : 0);
    }

    /// <summary>
    /// Appends up to <paramref name="max"/> publishes, bounded by the quota and (QoS 1/2) the inflight window; returns how
    /// many. Wakes the write loop when <paramref name="wake"/>.
    /// </summary>
    public int Publish(int max, bool wake = true)
    {
        int n;
        lock (_gate)
        {
            n = (int)Math.Min(max, Quota - Sent);
            if (_packetIdOffset >= 0)
            {
                n = Math.Min(n, InflightCap - Volatile.Read(ref _inflight));
            }
            if (n <= 0 || _closing)
            {
                return 0;
            }
            if (_packetIdOffset >= 0)
            {
                Interlocked.Add(ref _inflight, n);
            }
            var timestamp = Stopwatch.GetTimestamp();
            for (var i = 0; i < n; i++)
            {
                AppendPublishLocked(ref _pending, ref _pendingLength, timestamp);
            }
        }
        if (wake)
        {
            Wake();
        }
        return n;
    }

    public void Wake() => _wake.Writer.TryWrite(0);

    /// <summary>Sends PINGREQ when nothing was sent for half the keep-alive.</summary>
    public void KeepAlive(long nowTicks)
    {
        var keepAlive = _run.Settings.KeepAliveSeconds;
        if (keepAlive > 0 && !_closing && nowTicks - Volatile.Read(ref LastSendTicks) >= keepAlive * 500L)
        {
            Append([0xC0, 0x00]);
            Wake();
        }
    }

    /// <summary>Sends DISCONNECT, waits (bounded) for the write loop to drain, and closes the socket.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        if (!_closing)
        {
            Append([0xE0, 0x00]);
            _closing = true;
            Wake();
        }
        try
        {
            await _writeLoop.WaitAsync(timeout).ConfigureAwait(false);
            _socket.Shutdown(SocketShutdown.Send);
            await _readLoop.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or SocketException or ObjectDisposedException)
        {
        }
        Abort();
    }

    public void Abort()
    {
        _closing = true;
        _socket.Dispose();
        Wake();
    }

    private async Task<MqttPacket> RequestAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        var awaiting = new TaskCompletionSource<MqttPacket>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _awaiting, awaiting);
        var writer = new ArrayBufferWriter<byte>();
        PacketEncoder.Write(writer, packet, _version);
        Append(writer.WrittenSpan);
        Wake();
        return await awaiting.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }
}
