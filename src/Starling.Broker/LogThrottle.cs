namespace Starling.Broker;

/// <summary>
/// At most one log line per interval for one kind of event: <see cref="ShouldLog"/> says whether to write this one
/// and how many were skipped since the last one written. Thread-safe; costs a lock and a timestamp per call. Used by the
/// broker and by the server's transports (one throttle per kind of line).
/// </summary>
public sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly Lock _gate = new();
    private long _lastLogged;
    private long _suppressed;

    /// <summary>The interval, in whole seconds, for log texts.</summary>
    public int IntervalSeconds => (int)interval.TotalSeconds;

    /// <summary>True when this event is to be logged; <paramref name="suppressed"/> is the number skipped before it.</summary>
    public bool ShouldLog(out long suppressed)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (_lastLogged != 0 && time.GetElapsedTime(_lastLogged, now) < interval)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }
            suppressed = _suppressed;
            _suppressed = 0;
            _lastLogged = now;
            return true;
        }
    }
}
