using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>The broker-state limits the <see cref="LimitLog"/> reports (one rate-limited line per limit).</summary>
internal enum LimitCause
{
    RetainedMessages,
    Sessions,
    PersistentSessions,
    SubscriptionBytes,
    QueueFull,
    UserPropertyBytes,
}

/// <summary>
/// Logs "a state limit was hit" at most once per limit per interval (issue 16, finding 3): a client that keeps
/// hitting a limit costs a counter increment, not a log line each; the next line says how many were suppressed.
/// One per broker; any thread. Event ids 1500-1501.
/// </summary>
internal sealed partial class LimitLog(ILogger logger, TimeProvider time, TimeSpan interval, BrokerOptions options)
{
    private readonly LogThrottle[] _throttles = [.. Enum.GetValues<LimitCause>().Select(_ => new LogThrottle(time, interval))];

    /// <summary>
    /// Reports that <paramref name="cause"/>'s limit refused something of <paramref name="subject"/> (a client id or a
    /// topic). The text is built only when the line is written: a suppressed call allocates nothing. <paramref name="owner"/>:
    /// the session owner key of <see cref="LimitCause.PersistentSessions"/> (a username or address).
    /// </summary>
    public void Write(LimitCause cause, string subject, string? owner = null)
    {
        if (!_throttles[(int)cause].ShouldLog(out var suppressed))
        {
            return;
        }
        var message = Describe(cause, subject, owner);
        if (suppressed > 0)
        {
            LimitReachedAfterSuppressed(logger, cause, message, suppressed, (int)interval.TotalSeconds);
        }
        else
        {
            LimitReached(logger, cause, message);
        }
    }

    private string Describe(LimitCause cause, string subject, string? owner) => cause switch
    {
        LimitCause.PersistentSessions => $"CONNECT of client '{Shorten(subject)}' for a new persistent session refused: its owner "
            + $"'{Shorten(owner ?? "")}' holds "
            + (SessionIdentity.IsAnonymous(owner ?? "")
                ? $"Limits:MaxPersistentSessionsPerAddress ({options.MaxPersistentSessionsPerAddress})"
                : $"Limits:MaxPersistentSessionsPerUser ({options.MaxPersistentSessionsPerUser})")
            + " persistent sessions (a clean session is still accepted)",
        LimitCause.RetainedMessages => $"retained message on topic '{Shorten(subject)}' not stored (still delivered): the broker holds "
            + $"Limits:MaxRetainedMessages ({options.MaxRetainedMessages}) messages or Limits:MaxRetainedBytes ({options.MaxRetainedBytes}) bytes",
        LimitCause.Sessions => $"CONNECT of new client id '{Shorten(subject)}' refused: Limits:MaxSessions ({options.MaxSessions}) sessions exist",
        LimitCause.SubscriptionBytes => $"SUBSCRIBE of client '{Shorten(subject)}' refused: its filters would exceed "
            + $"Limits:MaxSubscriptionBytesPerClient ({options.MaxSubscriptionBytesPerClient}) bytes",
        LimitCause.UserPropertyBytes => $"connection of client '{Shorten(subject)}' closed: a packet's user properties exceed "
            + $"Limits:MaxUserPropertyBytes ({options.MaxUserPropertyBytes}) bytes",
        _ => $"message for client '{Shorten(subject)}' dropped: its queue holds Limits:MaxQueuedMessages ({options.MaxQueuedMessages}) "
            + $"messages or Limits:MaxQueuedBytes ({options.MaxQueuedBytes}) bytes (Limits:QueueFullPolicy {options.QueueFullPolicy})",
    };

    // A client id or topic can be 64 KB: the log line keeps its start.
    // Client-supplied (topic, client id): escaped (no forged log lines) and cut, like every client value in the log.
    private static string Shorten(string value) => Security.LogText.Escape(value, 128);

    [LoggerMessage(EventId = 1500, Level = LogLevel.Warning, Message = "Limit {Cause}: {Detail}")]
    private static partial void LimitReached(ILogger logger, LimitCause cause, string detail);

    [LoggerMessage(EventId = 1501, Level = LogLevel.Warning, Message = "Limit {Cause}: {Detail} ({Suppressed} more in the last {Seconds} s not logged)")]
    private static partial void LimitReachedAfterSuppressed(ILogger logger, LimitCause cause, string detail, long suppressed, int seconds);

}
