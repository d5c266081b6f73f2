namespace Starling.Broker.Storage;

/// <summary>
/// At most one log line per interval for one recurring event (a refusal, a pause): <see cref="TryEnter"/> says whether
/// to write now and how many occurrences were suppressed since the last line. One per event kind, owned by its logger's user.
/// </summary>
internal sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly Lock _gate = new();
    private long _lastLogged;
    private long _suppressed;

    /// <summary>The interval in whole seconds, for the log text.</summary>
    public int Seconds => (int)interval.TotalSeconds;

    /// <summary>True when a line is due (then <paramref name="suppressed"/> counts the ones skipped before it).</summary>
    public bool TryEnter(out long suppressed)
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
