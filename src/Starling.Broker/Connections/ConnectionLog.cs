using System.Net;
using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>
/// Log lines of the connection path (category "Starling.Broker.Connection"): event ids 1000-1999, and 3000-3099 for
/// authentication on a connection. The texts are the ones operators and tests know; keep them. Every client-supplied
/// value (client id, reason, method, user) is passed through <see cref="Security.LogText.Escape"/> by the caller.
/// Lines a remote client can cause at will before (or without) authenticating are written through the throttled
/// helpers in ConnectionLog.Throttled.cs, at most one per kind per interval.
/// </summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Client {ClientId} ({Remote}): {Reason} (0x{Code:X2}); closing connection")]
    public static partial void ProtocolError(ILogger logger, string clientId, EndPoint? remote, string reason, byte code);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Client {ClientId} ({Remote}): unexpected error; closing connection")]
    public static partial void UnexpectedError(ILogger logger, Exception exception, string clientId, EndPoint? remote);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Connection {Remote}: no CONNECT within {Timeout}; closing")]
    public static partial void ConnectTimeout(ILogger logger, EndPoint? remote, TimeSpan timeout);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Client {ClientId} ({Remote}): keep-alive of {KeepAlive} s expired; closing")]
    public static partial void KeepAliveExpired(ILogger logger, string clientId, EndPoint? remote, ushort keepAlive);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Client {ClientId} ({Remote}): session taken over by a new connection")]
    public static partial void TakenOver(ILogger logger, string clientId, EndPoint? remote);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Client {ClientId} ({Remote}) disconnected: {Cause}")]
    public static partial void Disconnected(ILogger logger, string clientId, EndPoint? remote, string? cause);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Debug, Message = "Client {ClientId}: write failed: {Error}")]
    public static partial void WriteFailed(ILogger logger, string clientId, string error);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Debug, Message = "Client {ClientId}: final write failed: {Error}")]
    public static partial void FinalWriteFailed(ILogger logger, string clientId, string error);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Information,
        Message = "Client {ClientId} connected from {Remote} (MQTT {Version}, {Kind} session{Present}, keep-alive {KeepAlive} s)")]
    public static partial void Connected(ILogger logger, string clientId, EndPoint? remote, string version, string kind, string present, ushort keepAlive);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Information, Message = "Connection from {Remote} refused (0x{Code:X2}): {Why}")]
    public static partial void Refused(ILogger logger, EndPoint? remote, byte code, string why);

    [LoggerMessage(EventId = 1650, Level = LogLevel.Information,
        Message = "Connection from {Remote} refused (0x{Code:X2}): {Why} ({Suppressed} more refused connections in the last {Interval} s not logged)")]
    public static partial void RefusedAfterSuppressed(ILogger logger, EndPoint? remote, byte code, string why, long suppressed, int interval);
}
