using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Starling.Broker.Security;

/// <summary>
/// The broker-wide state behind <see cref="SecurityOptions"/>: connection counts, the overload guard, the failed-login
/// throttle, the rejection log.
/// </summary>
internal sealed class SecurityRuntime
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly TimeProvider _time;
    private int _pending;
    private long _memoryCheckedAt;
    private volatile bool _overloaded;

    public SecurityRuntime(BrokerOptions options, ILoggerFactory loggerFactory, TimeProvider time)
    {
        Options = options.Security;
        _time = time;
        Log = new RejectionLog(loggerFactory.CreateLogger("Starling.Broker.Security"), time, Options.RejectionLogInterval);
        RefusalLog = new LogThrottle(time, Options.RejectionLogInterval);
        ProtocolErrorLog = new LogThrottle(time, Options.RejectionLogInterval);
        ConnectTimeoutLog = new LogThrottle(time, Options.RejectionLogInterval);
        ReauthenticationLog = new LogThrottle(time, Options.RejectionLogInterval);
        Logins = new LoginThrottle(Options, time);
    }

    public SecurityOptions Options { get; }
    public SecurityCounters Counters { get; } = new();
    public RejectionLog Log { get; }

    /// <summary>Throttle of the connection log's per-refusal line (one per <see cref="SecurityOptions.RejectionLogInterval"/>).</summary>
    public LogThrottle RefusalLog { get; }

    /// <summary>
    /// Throttle of the connection log's protocol-error line (event 1001; 1730 says how many were not logged): any socket
    /// can cause one before authenticating, so a client that reconnects in a loop could otherwise fill the log.
    /// </summary>
    public LogThrottle ProtocolErrorLog { get; }

    /// <summary>Throttle of the connection log's connect-timeout line (event 1003; 1731 with the number not logged): idle sockets cost nothing to open.</summary>
    public LogThrottle ConnectTimeoutLog { get; }

    /// <summary>
    /// Throttle of the connection log's "re-authenticated" line (event 3010; 3011 with the number not logged): a
    /// connected client can re-authenticate in a loop.
    /// </summary>
    public LogThrottle ReauthenticationLog { get; }

    /// <summary>The failed-login limits per address and per username.</summary>
    public LoginThrottle Logins { get; }

    public int PendingConnections => Volatile.Read(ref _pending);

    /// <summary>
    /// Counts a new transport; false (with the cause) when it must be closed at once. <paramref name="openTransports"/>:
    /// the transports open now, this one included (ConnectionRegistry.OpenTransports).
    /// </summary>
    public bool TryAdmit(IPAddress? address, int openTransports, out RejectionCause cause)
    {
        cause = default;
        if (Options.MaxOpenConnections > 0 && openTransports > Options.MaxOpenConnections)
        {
            Interlocked.Increment(ref Counters.OpenConnectionsExceeded);
            cause = RejectionCause.OpenConnections;
            return false;
        }
        var pending = Interlocked.Increment(ref _pending);
        if (Options.MaxPendingConnections > 0 && pending > Options.MaxPendingConnections)
        {
            Interlocked.Decrement(ref _pending);
            Interlocked.Increment(ref Counters.PendingConnectionsExceeded);
            cause = RejectionCause.PendingConnections;
            return false;
        }
        if (Options.MaxConnectionsPerAddress > 0 && address is not null)
        {
            var count = _perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1);
            if (count > Options.MaxConnectionsPerAddress)
            {
                ReleaseAddress(address);
                Interlocked.Decrement(ref _pending);
                Interlocked.Increment(ref Counters.ConnectionsPerAddressExceeded);
                cause = RejectionCause.ConnectionsPerAddress;
                return false;
            }
        }
        return true;
    }

    public void LeavePending() => Interlocked.Decrement(ref _pending);

    public void ReleaseAddress(IPAddress address)
    {
        while (true)
        {
            if (!_perAddress.TryGetValue(address, out var n))
            {
                return;
            }
            if (n <= 1 ? _perAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, n)) : _perAddress.TryUpdate(address, n - 1, n))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Counts and logs (rate-limited) a connection ended because its credentials expired or were revoked; returns the
    /// close cause for the connection's own log line.
    /// </summary>
    public string CredentialsEnded(string clientId, System.Net.EndPoint? remote, Protocol.ReasonCode reason)
    {
        var revoked = reason == Protocol.ReasonCode.NotAuthorized;
        Interlocked.Increment(ref Counters.CredentialsExpired);
        Log.Write(RejectionCause.CredentialsExpired, $"client '{clientId}' ({remote}) disconnected (0x{(byte)reason:X2}): its credentials " +
            (revoked ? "are no longer valid after a reload" : "expired"));
        return revoked ? "credentials revoked" : "credentials expired";
    }

    /// <summary>Whether the managed heap is above the configured fraction of available memory (re-measured at most every 250 ms).</summary>
    public bool IsOverloaded()
    {
        if (Options.MaxMemoryFraction <= 0)
        {
            return false;
        }
        var now = _time.GetTimestamp();
        var last = Volatile.Read(ref _memoryCheckedAt);
        if (last == 0 || _time.GetElapsedTime(last, now) > TimeSpan.FromMilliseconds(250))
        {
            Volatile.Write(ref _memoryCheckedAt, now);
            var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
            _overloaded = available > 0 && GC.GetTotalMemory(forceFullCollection: false) > Options.MaxMemoryFraction * available;
        }
        return _overloaded;
    }
}

/// <summary>Per-connection token bucket for the publish rate limit; used only by the connection's read loop.</summary>
internal sealed class TokenBucket(double ratePerSecond, int burst, TimeProvider time)
{
    private readonly double _capacity = burst > 0 ? burst : Math.Max(1, ratePerSecond);
    private double _tokens = burst > 0 ? burst : Math.Max(1, ratePerSecond);
    private long _last = time.GetTimestamp();

    public bool TryTake()
    {
        var now = time.GetTimestamp();
        _tokens = Math.Min(_capacity, _tokens + time.GetElapsedTime(_last, now).TotalSeconds * ratePerSecond);
        _last = now;
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return true;
        }
        return false;
    }
}
