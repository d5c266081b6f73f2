namespace Starling.Broker;

/// <summary>
/// The members of one shared subscription group ($share/{name}/{filter}). Each message goes to exactly one member,
/// chosen round-robin among connected members (any member when none is connected, so QoS 1/2 messages are queued).
/// Immutable member array, replaced under the index's write lock; the cursor is the only mutable field.
/// </summary>
internal sealed class SharedGroup(string name, Subscription[] members)
{
    private int _cursor;

    public string Name { get; } = name;

    public Subscription[] Members { get; } = members;

    public Subscription Pick()
    {
        var members = Members;
        var start = (int)((uint)Interlocked.Increment(ref _cursor) % (uint)members.Length);
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(start + i) % members.Length];
            if (candidate.Session.IsConnected)
            {
                return candidate;
            }
        }
        return members[start];
    }

    public bool HasConnectedMemberOtherThan(Session session)
    {
        foreach (var m in Members)
        {
            if (!ReferenceEquals(m.Session, session) && m.Session.IsConnected)
            {
                return true;
            }
        }
        return false;
    }

    public SharedGroup With(Subscription[] newMembers) => new(Name, newMembers) { _cursor = _cursor };
}
