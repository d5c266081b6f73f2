using Microsoft.Extensions.Logging;

namespace Starling.Broker.Security;

/// <summary>
/// Logs rejections at most once per cause per interval: a client hammering the broker with refused requests costs a
/// counter increment, not a log line each. The line after a quiet period says how many were suppressed.
/// </summary>
internal sealed class RejectionLog(ILogger logger, TimeProvider time, TimeSpan interval)
{
    private readonly LogThrottle[] _throttles = [.. Enum.GetValues<RejectionCause>().Select(_ => new LogThrottle(time, interval))];

    public void Write(RejectionCause cause, string message)
    {
        // The message quotes client-supplied values (client id, username, topic, reason): escaped and cut here, the
        // one place every rejection line passes, so no caller can forget it.
        message = LogText.Escape(message, 1024);
        if (!_throttles[(int)cause].ShouldLog(out var suppressed))
        {
            return;
        }
        if (suppressed > 0)
        {
            SecurityLog.RefusedAfterSuppressed(logger, cause, message, suppressed, (int)interval.TotalSeconds);
        }
        else
        {
            SecurityLog.Refused(logger, cause, message);
        }
    }

}
