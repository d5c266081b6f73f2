using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Starling.Broker;
using Starling.Server.Listeners;
using Starling.Server.Logging;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Transport;

/// <summary>
/// A plain-TCP MQTT listener on Starling's own transport: accepts sockets and hands each one to the
/// <see cref="ConnectionAdmission"/> as a <see cref="SocketPipe"/> watched by the server's <see cref="ReadinessPoller"/>.
/// Used instead of Kestrel for listeners without TLS, because Kestrel's per-connection machinery (two pipes, send and
/// receive loops, connection context and features) costs about 4 KB per idle connection (docs/performance.md,
/// finding 2). Nothing per connection is kept here: the broker tracks its connections, and the socket closes when
/// the broker completes both sides of the pipe.
/// </summary>
internal sealed class SocketListener(ListenerSettings settings, ReadinessPoller poller) : IMqttListener
{
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private Socket? _socket;
    private ConnectionAdmission? _admission;
    // The local end point of accepted connections when the listener is bound to one address; null for a wildcard.
    private IPEndPoint? _localEndPoint;
    private Task? _acceptLoop;
    private long _nextId;

    public string Name => settings.Name;

    public string Transport => "starling";

    public bool UsesKestrel => false;

    public IPEndPoint Configured { get; } = new(settings.Address, settings.Port);

    public IPEndPoint EndPoint { get; private set; } = new(settings.Address, settings.Port);

    /// <summary>The server's poller, which watches every socket this listener accepted.</summary>
    public ReadinessPoller Poller => poller;

    /// <summary>The broker this listener's connections run on (told about lingering sockets).</summary>
    public MqttBroker Broker => _admission!.Broker;

    /// <summary>The server's count of open sockets: a slot is taken at accept and given back when the socket closes.</summary>
    public SocketBudget Sockets => _admission!.Sockets;

    public void Configure(KestrelServerOptions kestrel, ConnectionAdmission admission)
    {
        // Not served by Kestrel.
    }

    /// <summary>Binds and listens at once, so a port in use fails here with its <see cref="SocketException"/>.</summary>
    public void Bind(ConnectionAdmission admission)
    {
        _admission = admission;
        _logger = admission.Loggers.CreateLogger("Starling.Server.Transport");
        var socket = new Socket(settings.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (settings.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            // As Kestrel: a restarted broker can bind while old connections sit in TIME_WAIT (Linux still refuses a
            // second listener on the port).
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(Configured);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        EndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _localEndPoint = settings.Address.Equals(IPAddress.Any) || settings.Address.Equals(IPAddress.IPv6Any) ? null : EndPoint;
    }

    public void Start() => _acceptLoop = AcceptLoopAsync(_socket ?? throw new InvalidOperationException("Bind first"));

    private async Task AcceptLoopAsync(Socket listening)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listening.AcceptAsync().ConfigureAwait(false);
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
                ServerLog.AcceptFailed(_logger, settings.Name, EndPoint, ex.Message);
                await Task.Delay(100).ConfigureAwait(false);
                continue;
            }
            // Counted here, on the accept loop, before anything is queued to the thread pool: a burst past the
            // limit is closed as fast as it arrives and never takes the process to its descriptor limit.
            if (!_admission!.Sockets.TryTake(settings.Name))
            {
                socket.Dispose();
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
            info = new ConnectionInfo("tcp-" + Interlocked.Increment(ref _nextId).ToString(CultureInfo.InvariantCulture),
                socket.RemoteEndPoint, _localEndPoint, settings.Name);
            pipe = new SocketPipe(socket, this);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            socket.Dispose(); // the peer reset before we could look at it, or the server is stopping (poller closed)
            _admission!.Sockets.Release();
            return;
        }
        // On the thread pool, as Kestrel does: the first read often finds CONNECT (or a burst) already there and the
        // read loop would run it on this accept loop. The broker never throws for client or I/O faults and completes
        // both sides of the pipe, which closes the socket; so the connection's task is not kept.
        ThreadPool.UnsafeQueueUserWorkItem(static s => s.Admission.Admit(s.Pipe, s.Info, CancellationToken.None),
            (Admission: _admission!, Pipe: pipe, Info: info), preferLocal: false);
    }

    /// <summary>Stops accepting; connections already accepted are the broker's to close.</summary>
    public async ValueTask DisposeAsync()
    {
        _socket?.Dispose();
        if (_acceptLoop is { } loop)
        {
            await loop.ConfigureAwait(false);
        }
    }
}
