using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>
/// The one timer of the broker (rule 5): every tick it checks connect timeouts and keep-alives of all connections and
/// expires offline sessions. Time comes from the broker's <see cref="TimeProvider"/>, so tests can fake it.
/// A tick walks every connection: at 100,000 connections that is a few milliseconds of work per tick, cheaper than a
/// timer per connection.
/// </summary>
internal sealed class Heartbeat : IDisposable
{
    private readonly ConnectionRegistry _connections;
    private readonly SessionRegistry _sessions;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ITimer _timer;
    private readonly long _queueDepthTicks;
    private long _nextQueueDepth;
    private int _running;

    public Heartbeat(ConnectionRegistry connections, SessionRegistry sessions, TimeProvider time, ILogger log, TimeSpan period, TimeSpan queueDepthInterval)
    {
        _connections = connections;
        _sessions = sessions;
        _time = time;
        _log = log;
        _queueDepthTicks = (long)(queueDepthInterval.TotalSeconds * time.TimestampFrequency);
        // The broker sampled once after recovery; the next sample is due one interval later.
        _nextQueueDepth = time.GetTimestamp() + _queueDepthTicks;
        _timer = time.CreateTimer(static s => ((Heartbeat)s!).Tick(), this, period, period);
    }

    public void Tick()
    {
        // A slow tick must not overlap the next one.
        if (Interlocked.Exchange(ref _running, 1) != 0)
        {
            return;
        }
        try
        {
            var now = _time.GetTimestamp();
            // Lock-free and allocation-free (ConnectionRegistry). A snapshot of every entry per tick would be a
            // large-object-heap array (120 KB at 15,000 connections) twice a second, garbage that only a gen2
            // collection returns (docs/performance.md, finding 2).
            foreach (var connection in _connections)
            {
                connection.CheckTimeouts(now);
            }
            _sessions.ExpireSessions(now);
            // The queue depth that /metrics, /api/stats and $SYS read: one walk per interval here instead of one per
            // reader call (a scrape used to walk every session; issue 16, finding 19).
            if (now >= _nextQueueDepth)
            {
                _nextQueueDepth = now + _queueDepthTicks;
                _sessions.SampleQueueDepth();
            }
        }
        catch (Exception ex)
        {
            BrokerLog.HeartbeatFailed(_log, ex);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    public void Dispose() => _timer.Dispose();
}
