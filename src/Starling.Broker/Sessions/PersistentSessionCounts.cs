namespace Starling.Broker;

/// <summary>
/// Persistent sessions (expiry above 0) per owner key (<see cref="SessionIdentity.OwnerKey"/>), for
/// Limits:MaxPersistentSessionsPerAddress and Limits:MaxPersistentSessionsPerUser. Owned by the
/// <see cref="SessionRegistry"/> and used only under its gate (no lock of its own).
/// <para>
/// Invariant (kept by the registry): a session is counted under its <see cref="Session.Identity"/> exactly while it
/// is registered, its expiry interval is above 0 and it has an identity. Only owners with at least one such session
/// have an entry. The entry's key string is the one its counted sessions hold as their identity, so an
/// "anonymous@ADDRESS" identity costs one string per address, not one per session.
/// </para>
/// </summary>
internal sealed class PersistentSessionCounts
{
    private readonly Dictionary<string, Owner> _owners = new(StringComparer.Ordinal);

    /// <summary>Owners with at least one persistent session.</summary>
    public int Owners => _owners.Count;

    /// <summary>Persistent sessions counted under <paramref name="key"/>.</summary>
    public int CountOf(string key) => _owners.TryGetValue(key, out var owner) ? owner.Count : 0;

    /// <summary>Counts one more session under <paramref name="key"/>; returns the shared key string for its identity.</summary>
    public string Add(string key)
    {
        if (!_owners.TryGetValue(key, out var owner))
        {
            owner = new Owner(key);
            _owners[key] = owner;
        }
        owner.Count++;
        return owner.Key;
    }

    /// <summary>Counts one session less under <paramref name="key"/> (the entry goes with the last one).</summary>
    public void Remove(string key)
    {
        if (_owners.TryGetValue(key, out var owner) && --owner.Count <= 0)
        {
            _owners.Remove(key);
        }
    }

    private sealed class Owner(string key)
    {
        public readonly string Key = key;
        public int Count;
    }
}
