using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace Starling.Security.Tests.Infrastructure;

/// <summary>One MQTT control packet as received: type (high nibble), flags (low nibble), body.</summary>
public sealed record Packet(int Type, int Flags, byte[] Body)
{
    public const int ConnAck = 2, Publish = 3, PubAck = 4, PubRec = 5, PubRel = 6, PubComp = 7, SubAck = 9, UnsubAck = 11, PingResp = 13, Disconnect = 14;

    public string Topic => Encoding.UTF8.GetString(Body, 2, BinaryPrimitives.ReadUInt16BigEndian(Body));

    public override string ToString() => Type == Publish ? $"PUBLISH {Topic}" : $"packet type {Type} ({Body.Length} bytes)";
}

/// <summary>
/// A tiny MQTT 3.1.1 / 5.0 client that sends the bytes it is told and reads whole packets on a background loop.
/// Plain TCP or TLS. Every wait has a timeout.
/// </summary>
public sealed class MqttTestClient : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly Channel<Packet> _packets = Channel.CreateUnbounded<Packet>();
    private readonly Task _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private int _nextId;

    private MqttTestClient(TcpClient tcp, Stream stream, int version)
    {
        _tcp = tcp;
        _stream = stream;
        Version = version;
        _reader = Task.Run(ReadLoopAsync);
    }

    public int Version { get; }

    public bool Closed { get; private set; }

    public static async Task<MqttTestClient> OpenAsync(IPEndPoint endpoint, int version = 4, SslClientAuthenticationOptions? tls = null)
    {
        var tcp = new TcpClient { NoDelay = true };
        using var cts = new CancellationTokenSource(Timeout);
        await tcp.ConnectAsync(endpoint, cts.Token);
        Stream stream = tcp.GetStream();
        if (tls is not null)
        {
            var ssl = new SslStream(stream);
            try
            {
                await ssl.AuthenticateAsClientAsync(tls, cts.Token);
            }
            catch
            {
                await ssl.DisposeAsync();
                tcp.Dispose();
                throw;
            }
            stream = ssl;
        }
        return new MqttTestClient(tcp, stream, version);
    }

    /// <summary>Opens, sends CONNECT and returns the client and its CONNACK code (or -1 when the server closed without one).</summary>
    public static async Task<(MqttTestClient Client, int Code)> ConnectAsync(IPEndPoint endpoint, string clientId, string? user = null,
        byte[]? password = null, int version = 4, SslClientAuthenticationOptions? tls = null, ushort keepAlive = 60)
    {
        var client = await OpenAsync(endpoint, version, tls);
        await client.SendAsync(Packets.Connect(clientId, user, password, version, keepAlive));
        var ack = await client.ReceiveAsync();
        return (client, ack is { Type: Packet.ConnAck } ? ack.Body[1] : -1);
    }

    public static async Task<MqttTestClient> ConnectOkAsync(IPEndPoint endpoint, string clientId, string? user = null, string? password = null, int version = 4)
    {
        var (client, code) = await ConnectAsync(endpoint, clientId, user, password is null ? null : Encoding.UTF8.GetBytes(password), version);
        if (code != 0)
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"{clientId}: CONNACK {code}, expected 0");
        }
        return client;
    }

    public ushort NextId() => (ushort)(Interlocked.Increment(ref _nextId) % 65000 + 1);

    public async Task SendAsync(byte[] bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    // Packets ExpectAsync passed over while looking for another type; ReceiveAsync hands them out first, in order,
    // so a PUBLISH that overtakes the PUBACK of the same client's publish is not lost to the test.
    private readonly Queue<Packet> _skipped = new();

    /// <summary>The next packet, or null on timeout or when the connection closed.</summary>
    public Task<Packet?> ReceiveAsync(TimeSpan? timeout = null)
        => _skipped.TryDequeue(out var p) ? Task.FromResult<Packet?>(p) : ReceiveFromWireAsync(timeout);

    private async Task<Packet?> ReceiveFromWireAsync(TimeSpan? timeout)
    {
        using var cts = new CancellationTokenSource(timeout ?? Timeout);
        try
        {
            return await _packets.Reader.ReadAsync(cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Waits for a packet of <paramref name="type"/>; others that arrive first are kept for the next receive.</summary>
    public async Task<Packet?> ExpectAsync(int type, TimeSpan? timeout = null)
    {
        var count = _skipped.Count;
        for (var i = 0; i < count; i++)
        {
            var stashed = _skipped.Dequeue();
            if (stashed.Type == type)
            {
                // Keep the order of the others.
                for (var j = i + 1; j < count; j++)
                {
                    _skipped.Enqueue(_skipped.Dequeue());
                }
                return stashed;
            }
            _skipped.Enqueue(stashed);
        }
        var until = DateTime.UtcNow + (timeout ?? Timeout);
        while (DateTime.UtcNow < until)
        {
            var p = await ReceiveFromWireAsync(until - DateTime.UtcNow);
            if (p is null)
            {
                return null;
            }
            if (p.Type == type)
            {
                return p;
            }
            _skipped.Enqueue(p);
        }
        return null;
    }

    /// <summary>SUBSCRIBE one filter; returns the SUBACK code.</summary>
    public async Task<int> SubscribeAsync(string filter, int qos = 0)
    {
        var id = NextId();
        await SendAsync(Packets.Subscribe(id, filter, qos, Version));
        var ack = await ExpectAsync(Packet.SubAck) ?? throw new TimeoutException($"no SUBACK for {filter}");
        return ack.Body[Version == 5 ? 3 + ack.Body[2] : 2];
    }

    /// <summary>PUBLISH; for QoS 1 waits for the PUBACK and returns its reason code (0 for 3.1.1).</summary>
    public async Task<int> PublishAsync(string topic, string payload, int qos = 0, bool retain = false)
    {
        var id = qos > 0 ? NextId() : (ushort)0;
        await SendAsync(Packets.Publish(topic, Encoding.UTF8.GetBytes(payload), qos, id, Version, retain));
        if (qos == 0)
        {
            return 0;
        }
        var ack = await ExpectAsync(Packet.PubAck) ?? throw new TimeoutException($"no PUBACK for {topic}");
        return ack.Body.Length > 2 ? ack.Body[2] : 0;
    }

    /// <summary>PINGREQ / PINGRESP round trip time, or null when no answer came.</summary>
    public async Task<TimeSpan?> PingAsync(TimeSpan? timeout = null)
    {
        var started = DateTime.UtcNow;
        await SendAsync([0xC0, 0x00]);
        return await ExpectAsync(Packet.PingResp, timeout) is null ? null : DateTime.UtcNow - started;
    }

    /// <summary>The topics of the PUBLISHes received within <paramref name="quiet"/> (QoS 1 ones are acknowledged).</summary>
    public async Task<List<string>> DrainPublishesAsync(TimeSpan quiet)
    {
        var topics = new List<string>();
        while (await ReceiveAsync(quiet) is { } p)
        {
            if (p.Type == Packet.Publish)
            {
                topics.Add(p.Topic);
                if ((p.Flags & 0x06) == 2)
                {
                    var at = 2 + BinaryPrimitives.ReadUInt16BigEndian(p.Body);
                    await SendAsync([0x40, 0x02, p.Body[at], p.Body[at + 1]]);
                }
            }
        }
        return topics;
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[1];
        try
        {
            while (true)
            {
                if (await _stream.ReadAsync(header) == 0)
                {
                    break;
                }
                int length = 0, shift = 0;
                while (true)
                {
                    var b = new byte[1];
                    if (await _stream.ReadAsync(b) == 0)
                    {
                        throw new EndOfStreamException();
                    }
                    length |= (b[0] & 0x7F) << shift;
                    shift += 7;
                    if ((b[0] & 0x80) == 0)
                    {
                        break;
                    }
                }
                var body = new byte[length];
                await _stream.ReadExactlyAsync(body);
                await _packets.Writer.WriteAsync(new Packet(header[0] >> 4, header[0] & 0x0F, body));
            }
        }
        catch (Exception)
        {
            // closed or reset: readers see the end of the channel
        }
        Closed = true;
        _packets.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _tcp.Client.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        await _stream.DisposeAsync();
        _tcp.Dispose();
        await _reader;
        _writeLock.Dispose();
    }
}

/// <summary>Packet bytes for the tests.</summary>
public static class Packets
{
    public static byte[] Connect(string clientId, string? user, byte[]? password, int version, ushort keepAlive = 60)
    {
        var body = new List<byte>();
        Str(body, "MQTT");
        body.Add((byte)version);
        var flags = 0x02 | (user is not null ? 0x80 : 0) | (password is not null ? 0x40 : 0);
        body.Add((byte)flags);
        body.Add((byte)(keepAlive >> 8));
        body.Add((byte)keepAlive);
        if (version == 5)
        {
            body.Add(0);
        }
        Str(body, clientId);
        if (user is not null)
        {
            Str(body, user);
        }
        if (password is not null)
        {
            body.Add((byte)(password.Length >> 8));
            body.Add((byte)password.Length);
            body.AddRange(password);
        }
        return Frame(0x10, body);
    }

    public static byte[] Subscribe(ushort id, string filter, int qos, int version)
    {
        var body = new List<byte> { (byte)(id >> 8), (byte)id };
        if (version == 5)
        {
            body.Add(0);
        }
        Str(body, filter);
        body.Add((byte)qos);
        return Frame(0x82, body);
    }

    public static byte[] Publish(string topic, byte[] payload, int qos, ushort id, int version, bool retain = false)
    {
        var body = new List<byte>();
        Str(body, topic);
        if (qos > 0)
        {
            body.Add((byte)(id >> 8));
            body.Add((byte)id);
        }
        if (version == 5)
        {
            body.Add(0);
        }
        body.AddRange(payload);
        return Frame((byte)(0x30 | (qos << 1) | (retain ? 1 : 0)), body);
    }

    public static void Str(List<byte> body, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        body.Add((byte)(bytes.Length >> 8));
        body.Add((byte)bytes.Length);
        body.AddRange(bytes);
    }

    public static byte[] Frame(byte first, List<byte> body)
    {
        var frame = new List<byte> { first };
        var length = body.Count;
        do
        {
            var digit = (byte)(length % 128);
            length /= 128;
            frame.Add(length > 0 ? (byte)(digit | 0x80) : digit);
        }
        while (length > 0);
        frame.AddRange(body);
        return [.. frame];
    }
}
