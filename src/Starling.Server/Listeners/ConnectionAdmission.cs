using System.IO.Pipelines;
using Starling.Broker;
using Starling.Server.Logging;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Listeners;

/// <summary>
/// The one way an accepted transport becomes a broker connection, whatever the listener (<see cref="IMqttListener"/>):
/// Starling's own TCP transport, Kestrel (plain or TLS) and WebSockets all call <see cref="Admit"/>. The limits
/// themselves (Limits:MaxOpenConnections, MaxPendingConnections, MaxConnectionsPerAddress) are checked once, by the
/// broker, when the connection starts (<c>SecurityRuntime.TryAdmit</c>): a transport refused there is closed before
/// any MQTT is exchanged, on every listener alike. Before that, every socket is counted at accept against the server's
/// one <see cref="Transport.SocketBudget"/> (<see cref="Sockets"/>), so a socket holds a slot while it is still a TLS
/// handshake or an HTTP request. One per server.
/// </summary>
internal sealed class ConnectionAdmission
{
    private readonly MqttBroker _broker;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;

    public ConnectionAdmission(MqttBroker broker, ILoggerFactory loggers, ServerSettings settings, TimeProvider time)
    {
        _broker = broker;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Starling.Server.Connections");
        Sockets = new(settings.Broker.Security, settings.MaxHttpConnections, broker.SecurityCounters, Counters, _logger, time);
    }

    /// <summary>The count of open sockets, on every listener, taken at accept.</summary>
    public Transport.SocketBudget Sockets { get; }

    /// <summary>Refusals decided by the server (HTTP share, WebSocket origin), exported in /metrics.</summary>
    public Transport.ServerCounters Counters { get; } = new();

    /// <summary>The broker connections are admitted to.</summary>
    public MqttBroker Broker => _broker;

    /// <summary>The host's loggers, for listeners created before the host was.</summary>
    public ILoggerFactory Loggers => _loggers;

    /// <summary>
    /// Hands the transport to the broker and returns the connection's task, which never faults for client or I/O
    /// errors. Listeners whose transport must stay open until the connection ends (Kestrel, WebSockets) await it
    /// through <see cref="ObserveAsync"/>; Starling's own transport drops it (the pipe closes its socket when the broker
    /// completes both sides), so an idle connection keeps no awaiting state machine.
    /// </summary>
    /// <param name="transport">The accepted connection's byte streams.</param>
    /// <param name="info">Who connected, on which listener.</param>
    /// <param name="closeRequested">Signalled when the server wants the connection closed (not when the peer left).</param>
    public Task Admit(IDuplexPipe transport, ConnectionInfo info, CancellationToken closeRequested)
    {
        ServerLog.ConnectionAdmitted(_logger, info.ConnectionId, info.RemoteEndPoint, info.ListenerName);
        return _broker.RunConnectionAsync(transport, info, closeRequested);
    }

    /// <summary>
    /// Awaits a connection (or a transport's run around it) to its end: a cancellation by the server or by the
    /// transport's abort is the normal end; any other exception is a bug, logged once while the others keep running.
    /// </summary>
    public async Task ObserveAsync(Task connection, ConnectionInfo info, CancellationToken closeRequested, CancellationToken aborted)
    {
        try
        {
            await connection.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (closeRequested.IsCancellationRequested || aborted.IsCancellationRequested)
        {
            // The peer went away or the server aborted the connection at shutdown: nothing to report.
        }
        catch (Exception ex)
        {
            ServerLog.ConnectionFailed(_logger, ex, info.ConnectionId, info.RemoteEndPoint, info.ListenerName, ex.Message);
        }
        ServerLog.ConnectionClosed(_logger, info.ConnectionId);
    }
}
