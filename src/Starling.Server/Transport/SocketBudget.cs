using Starling.Broker;
using Starling.Broker.Security;
using Starling.Server.Logging;

namespace Starling.Server.Transport;

/// <summary>
/// The one count of open sockets, taken at accept on every listener (Starling's own TCP transport in its accept loop,
/// Kestrel's plain, TLS, WebSocket and management endpoints in <see cref="CountingListenerFactory"/>'s accept), so a
/// socket holds a slot from the moment it holds a descriptor: before a TLS handshake, an HTTP request or a WebSocket
/// upgrade, not after. Two limits:
/// <list type="bullet">
/// <item>Limits:MaxOpenConnections for all sockets together (derived from the open-file limit when not configured,
/// <see cref="OpenFileBudget"/>): a socket past it is closed at once, on the accepting thread, so a burst can never take
/// the process to its descriptor limit (where the runtime aborts with "Out of memory.").</item>
/// <item>Limits:MaxHttpConnections for the sockets of the HTTP listeners (management, and WebSocket sockets until their
/// upgrade to MQTT): idle HTTP sockets can take at most this share, so they cannot keep MQTT clients out. A WebSocket
/// that became an MQTT connection leaves this share (<see cref="Slot.Upgraded"/>) and stays in the total.</item>
/// </list>
/// Refusals are counted (<see cref="SecurityCounters.OpenConnectionsExceeded"/>, <see cref="ServerCounters.HttpConnectionsExceeded"/>)
/// and logged at most once per limit per <see cref="SecurityOptions.RejectionLogInterval"/>. One per server.
/// </summary>
internal sealed class SocketBudget(SecurityOptions limits, int? maxHttpConnections, SecurityCounters counters, ServerCounters serverCounters,
    ILogger logger, TimeProvider time)
{
    private int _open;
    private int _http;
    private readonly LogThrottle _openLog = new(time, limits.RejectionLogInterval);
    private readonly LogThrottle _httpLog = new(time, limits.RejectionLogInterval);

    /// <summary>Sockets open now, on every listener.</summary>
    public int Open => Volatile.Read(ref _open);

    /// <summary>Sockets of the HTTP listeners that are not MQTT connections (yet).</summary>
    public int Http => Volatile.Read(ref _http);

    /// <summary>Limits:MaxOpenConnections, read when used (it is decided after the host is built); 0 means none.</summary>
    public int Limit => limits.MaxOpenConnections;

    /// <summary>
    /// Limits:MaxHttpConnections: configured, else a quarter of <see cref="Limit"/> (at least 1), or 1,024 when
    /// there is no total limit; 0 means no limit of its own.
    /// </summary>
    public int HttpLimit => maxHttpConnections ?? (Limit > 0 ? Math.Max(1, Limit / 4) : 1024);

    /// <summary>Takes a slot for a socket just accepted; false (counted, logged) when it must be closed at once.</summary>
    public bool TryTake(string listener)
    {
        var open = Interlocked.Increment(ref _open);
        var limit = Limit;
        if (limit > 0 && open > limit)
        {
            Interlocked.Decrement(ref _open);
            Interlocked.Increment(ref counters.OpenConnectionsExceeded);
            if (_openLog.ShouldLog(out var suppressed))
            {
                ServerLog.SocketRefusedOpenConnections(logger, listener, limit, suppressed, (int)limits.RejectionLogInterval.TotalSeconds);
            }
            return false;
        }
        return true;
    }

    /// <summary>Gives back a slot taken by <see cref="TryTake"/> (exactly once per slot).</summary>
    public void Release() => Interlocked.Decrement(ref _open);

    /// <summary>
    /// For a socket of an HTTP listener, which already holds a slot of the total: takes a slot of the HTTP share too;
    /// null (counted, logged) when the HTTP listeners hold <see cref="HttpLimit"/> sockets already.
    /// </summary>
    public Slot? TryTakeHttp(string listener)
    {
        var http = Interlocked.Increment(ref _http);
        var limit = HttpLimit;
        if (limit > 0 && http > limit)
        {
            Interlocked.Decrement(ref _http);
            Interlocked.Increment(ref serverCounters.HttpConnectionsExceeded);
            if (_httpLog.ShouldLog(out var suppressed))
            {
                ServerLog.SocketRefusedHttpConnections(logger, listener, limit, suppressed, (int)limits.RejectionLogInterval.TotalSeconds);
            }
            return null;
        }
        return new Slot(this);
    }

    /// <summary>An HTTP listener's socket in the HTTP share; leaves it once (upgrade or close, whichever comes first).</summary>
    internal sealed class Slot(SocketBudget budget)
    {
        private int _left;

        /// <summary>The WebSocket became an MQTT connection: it no longer counts as an HTTP socket.</summary>
        public void Upgraded() => Leave();

        /// <summary>The connection ended.</summary>
        public void Closed() => Leave();

        private void Leave()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                Interlocked.Decrement(ref budget._http);
            }
        }
    }
}
