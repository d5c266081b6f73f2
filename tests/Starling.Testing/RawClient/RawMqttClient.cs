using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>
/// The one raw MQTT client of the tests: a connection (TCP socket, or in-memory pipes straight into a broker) that
/// sends whatever bytes a test gives it, malformed ones included, and splits what the server sends into packets on a
/// background loop. Packet-level helpers over Starling.Protocol's codec are in RawMqttClient.Packets.cs. Every wait has a timeout; the only fixed-length wait is <see cref="ExpectNothingAsync"/>.
/// </summary>
public sealed partial class RawMqttClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long "the server sends nothing" is watched for.</summary>
    public static readonly TimeSpan QuietPeriod = TimeSpan.FromMilliseconds(300);

    private readonly RawTransport _transport;
    private readonly Channel<MqttFrame> _frames = Channel.CreateUnbounded<MqttFrame>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _readLoop;
    private readonly Queue<MqttFrame> _deferred = new();
    private int _nextPacketId;
    private int _disposed;

    private RawMqttClient(RawTransport transport, string name, ProtocolVersion version = ProtocolVersion.V311, Task? run = null)
    {
        _transport = transport;
        Name = name;
        Version = version;
        Run = run ?? Task.CompletedTask;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>
    /// The protocol version the packet-level helpers (<c>SendAsync(MqttPacket)</c>, <c>ExpectAsync&lt;T&gt;</c>) encode
    /// and decode with; raw bytes are sent as given whatever it says.
    /// </summary>
    public ProtocolVersion Version { get; }

    /// <summary>
    /// For a client attached to a broker over in-memory pipes (<see cref="Attach"/>): the broker's connection task,
    /// which ends when the broker is done with the connection. Completed for a socket client.
    /// </summary>
    public Task Run { get; }

    /// <summary>For failure messages.</summary>
    public string Name { get; }

    /// <summary>Why the read side ended ("closed by server", "reset", ...), once it has.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>
    /// Opens a TCP connection. <paramref name="localAddress"/>: the source address to connect from (e.g. 127.0.0.2 to
    /// look like another host over loopback); the system's choice when null.
    /// </summary>
    public static async Task<RawMqttClient> OpenAsync(IPEndPoint endpoint, string name = "client", ProtocolVersion version = ProtocolVersion.V311,
        IPAddress? localAddress = null)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (localAddress is not null)
            {
                socket.Bind(new IPEndPoint(localAddress, 0));
            }
            using var cts = new CancellationTokenSource(DefaultTimeout);
            await socket.ConnectAsync(endpoint, cts.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawMqttClient(new SocketTransport(socket), name, version);
    }

    /// <summary>
    /// A client wired straight to <paramref name="broker"/> through two in-memory pipes (no socket, no server): the
    /// broker unit tests' way in. <paramref name="version"/> is what the packet-level helpers speak.
    /// </summary>
    public static RawMqttClient Attach(MqttBroker broker, ProtocolVersion version = ProtocolVersion.V311, string name = "test")
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        var run = broker.RunConnectionAsync(new PipeTransport.Duplex(toServer.Reader, toClient.Writer),
            new ConnectionInfo(name, null, null, "memory"), CancellationToken.None);
        return new RawMqttClient(new PipeTransport(toClient.Reader, toServer.Writer), name, version, run);
    }

    /// <summary>A fresh non-zero packet id (1, 2, 3, ...) for tests that do not care which.</summary>
    public ushort NextPacketId()
    {
        var id = (ushort)(Interlocked.Increment(ref _nextPacketId) % 65535);
        return id == 0 ? NextPacketId() : id;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var cts = new CancellationTokenSource(DefaultTimeout);
        while (!bytes.IsEmpty)
        {
            var sent = await _transport.SendAsync(bytes, cts.Token);
            bytes = bytes[sent..];
        }
    }

    /// <summary>Sends several packets in one write, so the server sees them back to back.</summary>
    public Task SendTogetherAsync(params byte[][] packets) => SendAsync(ByteBuilder.Concat(packets).AsMemory());

    /// <summary>The next packet, or null when the server closed the connection first.</summary>
    public async Task<MqttFrame?> ReceiveAsync(TimeSpan? timeout = null)
    {
        if (_deferred.TryDequeue(out var deferred))
        {
            return deferred;
        }

        var wait = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(wait);
        try
        {
            return await _frames.Reader.ReadAsync(cts.Token);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{Name}: no packet from the server within {wait.TotalSeconds:0.###} s");
            throw;
        }
    }

    /// <summary>The next packet if one comes within <paramref name="duration"/>, else null; a close fails the test.</summary>
    public async Task<MqttFrame?> TryReceiveAsync(TimeSpan duration)
    {
        if (_deferred.TryDequeue(out var deferred))
        {
            return deferred;
        }

        using var cts = new CancellationTokenSource(duration);
        try
        {
            return await _frames.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (ChannelClosedException)
        {
            Assert.Fail($"{Name}: expected the connection to stay open, but it was closed ({CloseReason})");
            throw;
        }
    }

    public async Task<MqttFrame> ExpectPacketAsync(PacketKind kind, TimeSpan? timeout = null)
    {
        var frame = await ReceiveAsync(timeout);
        Assert.True(frame is not null, $"{Name}: expected {kind}, but the connection was closed ({CloseReason})");
        Assert.True(frame.Kind == kind, $"{Name}: expected {kind}, got {frame}");
        return frame;
    }

    public async Task<ConnAck> ExpectConnAckAsync(TimeSpan? timeout = null)
        => ConnAck.Parse(await ExpectPacketAsync(PacketKind.ConnAck, timeout));

    public async Task<ReceivedPublish> ExpectPublishAsync(TimeSpan? timeout = null)
        => ReceivedPublish.Parse(await ExpectPacketAsync(PacketKind.Publish, timeout));

    /// <summary>Expects an ack-like packet with the exact header byte and packet id given.</summary>
    public async Task<MqttFrame> ExpectAckAsync(PacketKind kind, ushort packetId, TimeSpan? timeout = null)
    {
        var frame = await ExpectPacketAsync(kind, timeout);
        var expectedHeader = kind == PacketKind.PubRel ? 0x62 : (int)kind << 4;
        Assert.True(frame.Header == expectedHeader, $"{Name}: {kind} must have header 0x{expectedHeader:X2}: {frame}");
        Assert.True(frame.Body.Length == 2, $"{Name}: {kind} must have remaining length 2: {frame}");
        Assert.Equal(packetId, frame.PacketId);
        return frame;
    }

    /// <summary>Puts a packet a test peeked at back in front of the packets not yet read.</summary>
    public void Requeue(MqttFrame frame) => _deferred.Enqueue(frame);

    /// <summary>Expects a SUBACK for <paramref name="packetId"/> and returns its return codes.</summary>
    public async Task<byte[]> ExpectSubAckAsync(ushort packetId, TimeSpan? timeout = null)
    {
        var frame = await ExpectPacketAsync(PacketKind.SubAck, timeout);
        Assert.True(frame.Header == 0x90, $"{Name}: SUBACK header must be 0x90: {frame}");
        Assert.Equal(packetId, frame.PacketId);
        return frame.Body[2..];
    }

    public async Task ExpectUnsubAckAsync(ushort packetId, TimeSpan? timeout = null)
        => await ExpectAckAsync(PacketKind.UnsubAck, packetId, timeout);

    /// <summary>
    /// Expects the server to close the connection. Packets before the close fail the test unless
    /// <paramref name="allowed"/> accepts them.
    /// </summary>
    public async Task ExpectClosedAsync(TimeSpan? timeout = null, Func<MqttFrame, bool>? allowed = null)
    {
        while (_deferred.TryDequeue(out var deferred))
        {
            Assert.True(allowed?.Invoke(deferred) == true, $"{Name}: expected the server to close the connection, got {deferred}");
        }

        var wait = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(wait);
        try
        {
            while (true)
            {
                var frame = await _frames.Reader.ReadAsync(cts.Token);
                Assert.True(allowed?.Invoke(frame) == true, $"{Name}: expected the server to close the connection, got {frame}");
            }
        }
        catch (ChannelClosedException)
        {
            // Closed: what the test wants.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{Name}: the server did not close the connection within {wait.TotalSeconds:0.###} s");
        }
    }

    /// <summary>Asserts that the server sends nothing (and keeps the connection open) for a short quiet period.</summary>
    public async Task ExpectNothingAsync(TimeSpan? duration = null)
    {
        Assert.True(_deferred.Count == 0, $"{Name}: expected nothing from the server, got {(_deferred.Count > 0 ? _deferred.Peek() : null)}");
        using var cts = new CancellationTokenSource(duration ?? QuietPeriod);
        bool more;
        try
        {
            more = await _frames.Reader.WaitToReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (more && _frames.Reader.TryRead(out var frame))
        {
            Assert.Fail($"{Name}: expected nothing from the server, got {frame}");
        }

        Assert.Fail($"{Name}: expected the connection to stay open, but it was closed ({CloseReason})");
    }

    /// <summary>Closes the socket without DISCONNECT (the server sees end of stream): an abnormal close for MQTT.</summary>
    public void CloseAbruptly() => _transport.CloseAbruptly();

    /// <summary>Resets the connection (RST) without DISCONNECT.</summary>
    public void Reset() => _transport.Reset();

    /// <summary>
    /// Ends the connection without DISCONNECT (a network drop) and, for a client attached over pipes, waits until
    /// the broker is done with it.
    /// </summary>
    public async Task DropAsync()
    {
        _transport.CloseAbruptly();
        await Run.WaitAsync(DefaultTimeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        _transport.Dispose();
        try
        {
            await _readLoop;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        // Attached over pipes: the broker saw end of stream and ends the connection.
        await Run.WaitAsync(DefaultTimeout);
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        var pending = new List<byte>();
        try
        {
            while (true)
            {
                var read = await _transport.ReceiveAsync(buffer.AsMemory(), _stop.Token);
                if (read == 0)
                {
                    CloseReason = "closed by the server (end of stream)";
                    return;
                }

                pending.AddRange(buffer.AsSpan(0, read));
                while (TryTakeFrame(pending, out var frame))
                {
                    _frames.Writer.TryWrite(frame);
                }
            }
        }
        catch (SocketException ex)
        {
            CloseReason = $"socket error {ex.SocketErrorCode}";
        }
        catch (ObjectDisposedException)
        {
            CloseReason = "closed locally";
        }
        catch (OperationCanceledException)
        {
            CloseReason = "closed locally";
        }
        catch (InvalidDataException ex)
        {
            CloseReason = ex.Message;
        }
        finally
        {
            _transport.ReadEnded();
            _frames.Writer.TryComplete();
        }
    }

    private static bool TryTakeFrame(List<byte> pending, out MqttFrame frame)
    {
        frame = null!;
        if (pending.Count < 2)
        {
            return false;
        }

        var length = 0;
        var multiplier = 1;
        var index = 1;
        while (true)
        {
            if (index >= pending.Count)
            {
                return false;
            }

            if (index > 4)
            {
                throw new InvalidDataException("the server sent a remaining length longer than 4 bytes");
            }

            var digit = pending[index++];
            length += (digit & 0x7F) * multiplier;
            multiplier *= 128;
            if ((digit & 0x80) == 0)
            {
                break;
            }
        }

        if (pending.Count < index + length)
        {
            return false;
        }

        frame = new MqttFrame(pending[0], pending.GetRange(index, length).ToArray());
        pending.RemoveRange(0, index + length);
        return true;
    }

    public override string ToString() => Name;

    public static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);
}
