using Microsoft.Extensions.Logging;

namespace Starling.Broker.Security;

/// <summary>
/// Log events of the security area (event ids 3000-3999; docs/architecture.md lists the ranges per area). The message
/// texts are matched by tests and operators' log filters: change them only on purpose.
/// </summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Warning, Message = "Refused ({Cause}): {Message}")]
    public static partial void Refused(ILogger logger, RejectionCause cause, string message);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning,
        Message = "Refused ({Cause}): {Message} ({Suppressed} more refusals of this kind in the last {Interval} s not logged)")]
    public static partial void RefusedAfterSuppressed(ILogger logger, RejectionCause cause, string message, long suppressed, int interval);
}
