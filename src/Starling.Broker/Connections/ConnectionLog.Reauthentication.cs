using System.Net;
using Microsoft.Extensions.Logging;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// The "re-authenticated" line of MQTT 5 re-authentication (AUTH 0x19). A connected client may re-authenticate as
/// often as it likes, so the line is written at most once per <see cref="SecurityOptions.RejectionLogInterval"/>
/// (<see cref="SecurityRuntime.ReauthenticationLog"/>); the next one written says how many were not. Event ids
/// 3010-3011 (3001 is the security log's "suppressed" line).
/// </summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Client {ClientId} ({Remote}) re-authenticated with {Method} as '{User}'")]
    private static partial void Reauthenticated(ILogger logger, string clientId, EndPoint? remote, string method, string? user);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information,
        Message = "Client {ClientId} ({Remote}) re-authenticated with {Method} as '{User}' ({Suppressed} more re-authentications in the last {Interval} s not logged)")]
    private static partial void ReauthenticatedAfterSuppressed(ILogger logger, string clientId, EndPoint? remote, string method, string? user, long suppressed, int interval);

    /// <summary>Line 3010 (or 3011 after suppressed ones), at most once per interval; values are escaped here.</summary>
    public static void ReauthenticatedThrottled(ILogger logger, LogThrottle throttle, string clientId, EndPoint? remote, string method, string? user)
    {
        if (!throttle.ShouldLog(out var suppressed))
        {
            return;
        }
        var (id, shownMethod, shownUser) = (LogText.Escape(clientId), LogText.Escape(method), LogText.Escape(user));
        if (suppressed > 0)
        {
            ReauthenticatedAfterSuppressed(logger, id, remote, shownMethod, shownUser, suppressed, throttle.IntervalSeconds);
        }
        else
        {
            Reauthenticated(logger, id, remote, shownMethod, shownUser);
        }
    }
}
