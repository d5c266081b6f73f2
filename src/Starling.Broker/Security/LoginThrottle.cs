using System.Net;

namespace Starling.Broker.Security;

/// <summary>
/// Failed-login limits per source address and per username (issue 16 finding 8): after
/// <see cref="SecurityOptions.MaxFailedLoginsPerAddress"/> (or <see cref="SecurityOptions.MaxFailedLoginsPerUser"/>)
/// failures within a window that starts at the first failure, credentials from that address (for that username) are
/// refused without being checked until the window ends. A fixed window, not a sliding one: one timestamp and one
/// count per key. Both tables are bounded by <see cref="SecurityOptions.MaxTrackedFailedLogins"/>: when one is full,
/// expired entries go first, then the oldest, so a flood of addresses or made-up usernames costs a bounded amount
/// of memory (and at worst evicts entries, which only weakens the limit for the evicted key). One lock per table,
/// taken only at CONNECT.
/// </summary>
internal sealed class LoginThrottle(SecurityOptions options, TimeProvider time)
{
    private readonly Table<IPAddress> _addresses = new(options.MaxTrackedFailedLogins);
    private readonly Table<string> _users = new(options.MaxTrackedFailedLogins, StringComparer.Ordinal);
    private readonly TimeSpan _window = TimeSpan.FromSeconds(options.FailedLoginWindowSeconds);

    /// <summary>Null when this login may be checked; else the setting whose limit refuses it.</summary>
    public string? Check(IPAddress? address, string? username)
    {
        var now = time.GetTimestamp();
        if (options.MaxFailedLoginsPerAddress > 0 && address is not null && _addresses.Failures(address, now, _window, time) >= options.MaxFailedLoginsPerAddress)
        {
            return "Limits:MaxFailedLoginsPerAddress";
        }
        if (options.MaxFailedLoginsPerUser > 0 && username is not null && _users.Failures(username, now, _window, time) >= options.MaxFailedLoginsPerUser)
        {
            return "Limits:MaxFailedLoginsPerUser";
        }
        return null;
    }

    /// <summary>Counts a failed login against its address and its username.</summary>
    public void RecordFailure(IPAddress? address, string? username)
    {
        var now = time.GetTimestamp();
        if (options.MaxFailedLoginsPerAddress > 0 && address is not null)
        {
            _addresses.Add(address, now, _window, time);
        }
        if (options.MaxFailedLoginsPerUser > 0 && username is not null)
        {
            _users.Add(username, now, _window, time);
        }
    }

    /// <summary>A successful login clears its username's failures (not its address's: one good account must not reset a guesser).</summary>
    public void RecordSuccess(string? username)
    {
        if (options.MaxFailedLoginsPerUser > 0 && username is not null)
        {
            _users.Remove(username);
        }
    }

    /// <summary>Addresses and usernames remembered now (for tests and metrics).</summary>
    public int TrackedCount => _addresses.Count + _users.Count;

    private sealed class Table<TKey>(int capacity, IEqualityComparer<TKey>? comparer = null)
        where TKey : notnull
    {
        private readonly Dictionary<TKey, Entry> _entries = new(comparer);
        private readonly Lock _gate = new();

        public int Count
        {
            get
            {
                lock (_gate)
                {
                    return _entries.Count;
                }
            }
        }

        public int Failures(TKey key, long now, TimeSpan window, TimeProvider time)
        {
            lock (_gate)
            {
                return _entries.TryGetValue(key, out var entry) && time.GetElapsedTime(entry.Start, now) < window ? entry.Count : 0;
            }
        }

        public void Add(TKey key, long now, TimeSpan window, TimeProvider time)
        {
            lock (_gate)
            {
                if (_entries.TryGetValue(key, out var entry) && time.GetElapsedTime(entry.Start, now) < window)
                {
                    _entries[key] = entry with { Count = entry.Count + 1 };
                    return;
                }
                if (!_entries.ContainsKey(key) && _entries.Count >= capacity)
                {
                    MakeRoom(now, window, time);
                }
                _entries[key] = new Entry(now, 1);
            }
        }

        public void Remove(TKey key)
        {
            lock (_gate)
            {
                _entries.Remove(key);
            }
        }

        // Under the lock, with the table full: O(capacity), at most once per failed login of a new key.
        private void MakeRoom(long now, TimeSpan window, TimeProvider time)
        {
            var oldestKey = default(TKey);
            var oldest = long.MaxValue;
            List<TKey>? expired = null;
            foreach (var (key, entry) in _entries)
            {
                if (time.GetElapsedTime(entry.Start, now) >= window)
                {
                    (expired ??= []).Add(key);
                }
                else if (entry.Start < oldest)
                {
                    (oldest, oldestKey) = (entry.Start, key);
                }
            }
            if (expired is not null)
            {
                foreach (var key in expired)
                {
                    _entries.Remove(key);
                }
            }
            else if (oldestKey is not null)
            {
                _entries.Remove(oldestKey);
            }
        }
    }

    private readonly record struct Entry(long Start, int Count);
}
