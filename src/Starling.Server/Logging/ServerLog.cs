using System.Net;

namespace Starling.Server.Logging;

/// <summary>
/// The host's and the listeners' log messages (event ids 4000-4999): start-up, admission of connections, accept
/// loops, the broker's stop. Message texts are part of the interface: tests and operators match them.
/// </summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Debug, Message = "Connection {ConnectionId} from {RemoteEndPoint} on listener {Listener}")]
    public static partial void ConnectionAdmitted(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string listener);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "Connection {ConnectionId} from {RemoteEndPoint} on listener {Listener} failed: {Message}")]
    public static partial void ConnectionFailed(ILogger logger, Exception exception, string connectionId, EndPoint? remoteEndPoint, string listener, string message);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Debug, Message = "Connection {ConnectionId} closed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Listener {Listener} ({EndPoint}): accept failed: {Error}")]
    public static partial void AcceptFailed(ILogger logger, string listener, IPEndPoint endPoint, string error);

    [LoggerMessage(EventId = 4100, Level = LogLevel.Warning, Message = "Refused (OpenConnections): socket on listener {Listener} closed at accept: "
        + "{Limit} sockets are open (Limits:MaxOpenConnections; its default follows the open-file limit, ulimit -n); "
        + "{Suppressed} more refused in the {Interval} s before")]
    public static partial void SocketRefusedOpenConnections(ILogger logger, string listener, int limit, long suppressed, int interval);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Refused (HttpConnections): socket on HTTP listener {Listener} closed: "
        + "{Limit} sockets are open on the management and WebSocket listeners (Limits:MaxHttpConnections); "
        + "{Suppressed} more refused in the {Interval} s before")]
    public static partial void SocketRefusedHttpConnections(ILogger logger, string listener, int limit, long suppressed, int interval);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Warning, Message = "Refused (WebSocketOrigin): WebSocket from {Remote} with Origin {Origin} "
        + "(not the broker's own host or dashboard, not in WebSockets:AllowedOrigins); {Suppressed} more refused in the {Interval} s before")]
    public static partial void WebSocketOriginRefused(ILogger logger, System.Net.IPAddress? remote, string origin, long suppressed, int interval);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "Starling {Version} listening on {Endpoints}")]
    public static partial void Listening(ILogger logger, string version, string endpoints);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "Open-file limit {Limit} (ulimit -n), {Open} in use: at most {Capacity} connections at once "
        + "(Limits:MaxOpenConnections; raise the limit for more)")]
    public static partial void OpenFileCapacity(ILogger logger, int limit, int open, int capacity);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "Limits:MaxOpenConnections is {Configured}, but the open-file limit {Limit} (ulimit -n) leaves room for "
        + "{Capacity} connections: past that the process runs out of file descriptors and the .NET runtime aborts. Raise the limit or remove the setting")]
    public static partial void OpenFileLimitTooLow(ILogger logger, object configured, int limit, int capacity);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Warning, Message = "Start-up opened {Opened} file descriptors after Limits:MaxOpenConnections was decided, "
        + "{Allowance} were allowed for: {Open} of the open-file limit {Limit} are in use, so the {Capacity} connections it allows eat into the runtime's reserve. "
        + "Raise the limit (ulimit -n) or set Limits:MaxOpenConnections lower")]
    public static partial void OpenFileAllowanceExceeded(ILogger logger, int opened, int allowance, int open, int limit, int capacity);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "Stopping the broker")]
    public static partial void BrokerStopping(ILogger logger);

    [LoggerMessage(EventId = 4021, Level = LogLevel.Information, Message = "Broker stopped")]
    public static partial void BrokerStopped(ILogger logger);

    [LoggerMessage(EventId = 4022, Level = LogLevel.Warning, Message = "The broker did not stop within the shutdown timeout; closing the remaining connections")]
    public static partial void BrokerStopTimedOut(ILogger logger);

    [LoggerMessage(EventId = 4023, Level = LogLevel.Error, Message = "The broker failed to stop cleanly: {Message}")]
    public static partial void BrokerStopFailed(ILogger logger, Exception exception, string message);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Information, Message = "WebSocket from {Remote} refused: subprotocol {Offered} offered, mqtt needed")]
    public static partial void WebSocketSubprotocolRefused(ILogger logger, IPAddress? remote, string offered);

    [LoggerMessage(EventId = 4031, Level = LogLevel.Debug, Message = "WebSocket connection {ConnectionId} from {Remote} (subprotocol {Protocol})")]
    public static partial void WebSocketAccepted(ILogger logger, string connectionId, EndPoint? remote, string protocol);

    [LoggerMessage(EventId = 4032, Level = LogLevel.Debug, Message = "WebSocket connection {ConnectionId} closed: {Cause}")]
    public static partial void WebSocketClosed(ILogger logger, string connectionId, string cause);

    [LoggerMessage(EventId = 4040, Level = LogLevel.Information, Message = "Reloaded the {What} {Path} ({Why}): {Summary}")]
    public static partial void AuthFileReloaded(ILogger logger, string what, string path, string why, string summary);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Warning, Message = "The {What} {Path} was not reloaded ({Why}); the previous version stays in force: {Message}")]
    public static partial void AuthFileReloadFailed(ILogger logger, string what, string path, string why, string message);

    [LoggerMessage(EventId = 4042, Level = LogLevel.Information, Message = "Listener '{Listener}': TLS certificate reloaded from {CertFile} (subject {Subject}, valid until {NotAfter:u})")]
    public static partial void TlsCertificateReloaded(ILogger logger, string listener, string certFile, string subject, DateTime notAfter);

    [LoggerMessage(EventId = 4043, Level = LogLevel.Warning, Message = "Listener '{Listener}': TLS certificate not reloaded, keeping the current one: cannot use {CertFile} / {KeyFile}: {Message}")]
    public static partial void TlsCertificateReloadFailed(ILogger logger, string listener, string certFile, string keyFile, string message);

    [LoggerMessage(EventId = 4044, Level = LogLevel.Warning, Message = "TLS client certificate refused on listener '{Listener}' from {Remote}: no client certificate presented (Tls:ClientCertificate is required)")]
    public static partial void TlsClientCertificateMissing(ILogger logger, string listener, object? remote);

    [LoggerMessage(EventId = 4045, Level = LogLevel.Warning, Message = "TLS client certificate refused on listener '{Listener}' from {Remote}: {Problem} (subject {Subject})")]
    public static partial void TlsClientCertificateRefused(ILogger logger, string listener, object? remote, string problem, string subject);

    [LoggerMessage(EventId = 4050, Level = LogLevel.Information, Message = "Storage: memory only (sessions, queued and retained messages do not survive a restart)")]
    public static partial void StorageMemoryOnly(ILogger logger);

    [LoggerMessage(EventId = 4051, Level = LogLevel.Information, Message = "Storage: {Store} (WAL, synchronous={Sync}: acknowledged messages survive {What})")]
    public static partial void StorageOpened(ILogger logger, string store, string sync, string what);
}
