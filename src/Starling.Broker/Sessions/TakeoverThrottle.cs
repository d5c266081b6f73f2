namespace Starling.Broker;

/// <summary>
/// Limits:MaxTakeoversPerMinute: counts takeovers (a CONNECT displacing the connected holder of its client id) per
/// client id and remote address in a one-minute window that starts with the window's first takeover. Two clients
/// fighting over one id (or an attacker kicking a victim again and again) would otherwise make the broker close and
/// re-open that session in a loop. Counted per address too, so that an attacker who used up the window cannot lock
/// the real client (connecting from elsewhere) out of its own id. Only pairs seen within the last minute have an
/// entry, so an idle session costs nothing here.
/// Concurrency: owned by <see cref="SessionRegistry"/> and called only under its gate.
/// </summary>
internal sealed class TakeoverThrottle(TimeProvider time, int maxPerMinute)
{
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(1);
    private readonly Dictionary<(string ClientId, string Source), Window> _byClientId = [];

    /// <summary>
    /// Records one takeover of <paramref name="clientId"/> from <paramref name="source"/> and returns true, or returns
    /// false (recording nothing) when that pair's window already holds the maximum.
    /// </summary>
    public bool TryTakeOver(string clientId, string source = "")
    {
        if (maxPerMinute <= 0)
        {
            return true;
        }
        var now = time.GetTimestamp();
        var key = (clientId, source);
        if (!_byClientId.TryGetValue(key, out var window) || time.GetElapsedTime(window.Start, now) >= s_window)
        {
            _byClientId[key] = new Window(now, 1);
            return true;
        }
        if (window.Count >= maxPerMinute)
        {
            return false;
        }
        _byClientId[key] = window with { Count = window.Count + 1 };
        return true;
    }

    /// <summary>Forgets windows that have passed (the Heartbeat, under the registry's gate); nothing to do when empty.</summary>
    public void Prune()
    {
        if (_byClientId.Count == 0)
        {
            return;
        }
        var now = time.GetTimestamp();
        foreach (var (key, window) in _byClientId)
        {
            if (time.GetElapsedTime(window.Start, now) >= s_window)
            {
                // Removing while enumerating a Dictionary is allowed since .NET Core 3.0.
                _byClientId.Remove(key);
            }
        }
    }

    private readonly record struct Window(long Start, int Count);
}
