using System.Net;
using System.Net.Sockets;
using Starling.Broker;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Transport;

/// <summary>
/// A plain-TCP MQTT listener: accepts sockets and hands each one to the broker as a <see cref="SocketPipe"/>. Used
/// instead of Kestrel for listeners without TLS, because Kestrel's per-connection machinery (two pipes, send and
/// receive loops, connection context and features) costs about 4 KB per idle connection (docs/performance.md,
/// finding 2). Nothing per connection is kept here: the broker tracks its connections, and the socket closes when
/// the broker completes both sides of the pipe.
/// </summary>
internal sealed class SocketListener : IAsyncDisposable
{
    private readonly ListenerSettings _settings;
    private readonly MqttBroker _broker;
    private readonly ILogger _log;
    private readonly Socket _socket;
    // The local end point of accepted connections when the listener is bound to one address; null for a wildcard.
    private readonly IPEndPoint? _localEndPoint;
    private Task? _acceptLoop;
    private long _nextId;

    /// <summary>Binds and listens at once, so a port in use fails here with its <see cref="SocketException"/>.</summary>
    public SocketListener(ListenerSettings settings, MqttBroker broker, ILogger log)
    {
        _settings = settings;
        _broker = broker;
        _log = log;
        _socket = new Socket(settings.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (settings.Address.Equals(IPAddress.IPv6Any))
            {
                _socket.DualMode = true;
            }
            // As Kestrel: a restarted broker can bind while old connections sit in TIME_WAIT (Linux still refuses a
            // second listener on the port).
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _socket.Bind(new IPEndPoint(settings.Address, settings.Port));
            _socket.Listen(512);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _localEndPoint = settings.Address.Equals(IPAddress.Any) || settings.Address.Equals(IPAddress.IPv6Any) ? null : EndPoint;
    }

    /// <summary>The bound end point (the port the OS chose when 0 was asked).</summary>
    public IPEndPoint EndPoint { get; }

    public void Start() => _acceptLoop = AcceptLoopAsync();

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _socket.AcceptAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Typically out of file descriptors: say so, give the process a moment, keep accepting.
                _log.LogWarning("Listener {Listener} ({EndPoint}): accept failed: {Error}", _settings.Name, EndPoint, ex.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            Serve(socket);
        }
    }

    private void Serve(Socket socket)
    {
        SocketPipe pipe;
        ConnectionInfo info;
        try
        {
            socket.NoDelay = true;
            info = new ConnectionInfo("tcp-" + Interlocked.Increment(ref _nextId).ToString(System.Globalization.CultureInfo.InvariantCulture),
                socket.RemoteEndPoint, _localEndPoint, _settings.Name);
            pipe = new SocketPipe(socket, _broker);
        }
        catch (SocketException)
        {
            socket.Dispose(); // the peer reset before we could look at it
            return;
        }
        // On the thread pool, as Kestrel does: the first read often finds CONNECT (or a burst) already there and the
        // read loop would run it on this accept loop. The broker never throws for client or I/O faults and completes
        // both sides of the pipe, which closes the socket.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Broker.RunConnectionAsync(s.Pipe, s.Info, CancellationToken.None),
            (Broker: _broker, Pipe: pipe, Info: info), preferLocal: false);
    }

    /// <summary>Stops accepting; connections already accepted are the broker's to close.</summary>
    public async ValueTask DisposeAsync()
    {
        _socket.Dispose();
        if (_acceptLoop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }
    }
}
