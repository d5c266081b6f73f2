namespace Starling.Broker;

/// <summary>
/// Limits:MaxTakeoversPerMinute: counts takeovers (a CONNECT displacing the connected holder of its client id) per
/// client id in a one-minute window that starts with the window's first takeover. Two clients fighting over one id (or
/// an attacker kicking a victim again and again) would otherwise make the broker close and re-open that session in a
/// loop. Only client ids taken over within the last minute have an entry, so an idle session costs nothing here.
/// Concurrency: owned by <see cref="SessionRegistry"/> and called only under its gate.
/// </summary>
internal sealed class TakeoverThrottle(TimeProvider time, int maxPerMinute)
{
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(1);
    private readonly Dictionary<string, Window> _byClientId = new(StringComparer.Ordinal);

    /// <summary>
    /// Records one takeover of <paramref name="clientId"/> and returns true, or returns false (recording nothing) when
    /// the id's window already holds the maximum.
    /// </summary>
    public bool TryTakeOver(string clientId)
    {
        if (maxPerMinute <= 0)
        {
            return true;
        }
        var now = time.GetTimestamp();
        if (!_byClientId.TryGetValue(clientId, out var window) || time.GetElapsedTime(window.Start, now) >= s_window)
        {
            _byClientId[clientId] = new Window(now, 1);
            return true;
        }
        if (window.Count >= maxPerMinute)
        {
            return false;
        }
        _byClientId[clientId] = window with { Count = window.Count + 1 };
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
        foreach (var (clientId, window) in _byClientId)
        {
            if (time.GetElapsedTime(window.Start, now) >= s_window)
            {
                // Removing while enumerating a Dictionary is allowed since .NET Core 3.0.
                _byClientId.Remove(clientId);
            }
        }
    }

    private readonly record struct Window(long Start, int Count);
}
