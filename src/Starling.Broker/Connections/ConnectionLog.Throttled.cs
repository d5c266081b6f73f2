using System.Net;
using Microsoft.Extensions.Logging;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// The connection-log lines any socket can cause before (or without) authenticating: a refused CONNECT, a protocol
/// error, a connect timeout. A client that opens connections in a loop could otherwise write one line each (issue 16,
/// finding 12). Each kind is written at most once per <see cref="SecurityOptions.RejectionLogInterval"/> (its
/// <see cref="LogThrottle"/> in <see cref="SecurityRuntime"/>); the next line written says how many were not. Values
/// are escaped only for lines that are written. Every event is still counted (ProtocolErrors, ConnectionsRefused);
/// after CONNACK the "disconnected" line (1006) carries the close reason of each connection anyway.
/// </summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(EventId = 1730, Level = LogLevel.Information,
        Message = "Client {ClientId} ({Remote}): {Reason} (0x{Code:X2}); closing connection ({Suppressed} more protocol errors in the last {Interval} s not logged)")]
    private static partial void ProtocolErrorAfterSuppressed(ILogger logger, string clientId, EndPoint? remote, string reason, byte code, long suppressed, int interval);

    [LoggerMessage(EventId = 1731, Level = LogLevel.Information,
        Message = "Connection {Remote}: no CONNECT within {Timeout}; closing ({Suppressed} more connect timeouts in the last {Interval} s not logged)")]
    private static partial void ConnectTimeoutAfterSuppressed(ILogger logger, EndPoint? remote, TimeSpan timeout, long suppressed, int interval);

    /// <summary>Line 1001 (or 1730 after suppressed ones), at most once per interval.</summary>
    public static void ProtocolErrorThrottled(ILogger logger, LogThrottle throttle, string clientId, EndPoint? remote, string reason, byte code)
    {
        if (!throttle.ShouldLog(out var suppressed))
        {
            return;
        }
        var id = LogText.Escape(clientId);
        var shown = LogText.Escape(reason, 512);
        if (suppressed > 0)
        {
            ProtocolErrorAfterSuppressed(logger, id, remote, shown, code, suppressed, throttle.IntervalSeconds);
        }
        else
        {
            ProtocolError(logger, id, remote, shown, code);
        }
    }

    /// <summary>Line 1003 (or 1731 after suppressed ones), at most once per interval.</summary>
    public static void ConnectTimeoutThrottled(ILogger logger, LogThrottle throttle, EndPoint? remote, TimeSpan timeout)
    {
        if (!throttle.ShouldLog(out var suppressed))
        {
            return;
        }
        if (suppressed > 0)
        {
            ConnectTimeoutAfterSuppressed(logger, remote, timeout, suppressed, throttle.IntervalSeconds);
        }
        else
        {
            ConnectTimeout(logger, remote, timeout);
        }
    }

    /// <summary>Line 1010 (or 1650 after suppressed ones), at most once per interval.</summary>
    public static void RefusedThrottled(ILogger logger, LogThrottle throttle, EndPoint? remote, byte code, string why)
    {
        if (!throttle.ShouldLog(out var suppressed))
        {
            return;
        }
        var shown = LogText.Escape(why, 512);
        if (suppressed > 0)
        {
            RefusedAfterSuppressed(logger, remote, code, shown, suppressed, throttle.IntervalSeconds);
        }
        else
        {
            Refused(logger, remote, code, shown);
        }
    }
}
