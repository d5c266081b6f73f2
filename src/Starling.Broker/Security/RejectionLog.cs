using Microsoft.Extensions.Logging;

namespace Starling.Broker.Security;

/// <summary>
/// Logs rejections at most once per cause per interval: a client hammering the broker with refused requests costs a
/// counter increment, not a log line each. The line after a quiet period says how many were suppressed.
/// </summary>
internal sealed class RejectionLog(ILogger logger, TimeProvider time, TimeSpan interval)
{
    private readonly Slot[] _slots = [.. Enumerable.Range(0, Enum.GetValues<RejectionCause>().Length).Select(_ => new Slot())];

    public void Write(RejectionCause cause, string message)
    {
        var slot = _slots[(int)cause];
        // The message quotes client-supplied values (client id, username, topic, reason): escaped and cut here, the
        // one place every rejection line passes, so no caller can forget it.
        message = LogText.Escape(message, 1024);
        var now = time.GetTimestamp();
        long suppressed;
        lock (slot.Gate)
        {
            if (slot.LastLogged != 0 && time.GetElapsedTime(slot.LastLogged, now) < interval)
            {
                slot.Suppressed++;
                return;
            }
            suppressed = slot.Suppressed;
            slot.Suppressed = 0;
            slot.LastLogged = now;
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

    private sealed class Slot
    {
        public readonly Lock Gate = new();
        public long LastLogged;
        public long Suppressed;
    }
}
