using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>
/// The one timer of the broker (rule 5): every tick it checks connect timeouts and keep-alives of all connections and
/// expires offline sessions. Time comes from the broker's <see cref="TimeProvider"/>, so tests can fake it.
/// A tick walks every connection: at 100,000 connections that is a few milliseconds of work per tick, cheaper than a
/// timer per connection.
/// </summary>
internal sealed partial class Heartbeat : IDisposable
{
    private readonly TimeProvider _time;
    private readonly ConnectionRegistry _connections;
    private readonly SessionRegistry _sessions;
    private readonly ILogger _log;
    private readonly ITimer _timer;
    private int _running;

    public Heartbeat(TimeProvider time, ConnectionRegistry connections, SessionRegistry sessions, ILogger log, TimeSpan period)
    {
        _time = time;
        _connections = connections;
        _sessions = sessions;
        _log = log;
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
        }
        catch (Exception ex)
        {
            TickFailed(_log, ex);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    public void Dispose() => _timer.Dispose();

    [LoggerMessage(EventId = 2000, Level = LogLevel.Error, Message = "Heartbeat tick failed")]
    private static partial void TickFailed(ILogger logger, Exception exception);
}
