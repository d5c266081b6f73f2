namespace Starling.Server.Transport;

/// <summary>At most one line per interval; the next line says how many were left out.</summary>
internal sealed class RefusalLog(TimeProvider time, TimeSpan interval)
{
    private readonly Lock _gate = new();
    private long _last;
    private long _suppressed;

    public bool ShouldWrite(out long suppressed)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (_last != 0 && time.GetElapsedTime(_last, now) < interval)
            {
                _suppressed++;
                suppressed = 0;
                return false;
            }
            suppressed = _suppressed;
            _suppressed = 0;
            _last = now;
            return true;
        }
    }
}
