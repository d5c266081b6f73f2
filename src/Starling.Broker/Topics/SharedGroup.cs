namespace Starling.Broker;

/// <summary>
/// The members of one shared subscription group ($share/{name}/{filter}). Each message goes to exactly one member,
/// chosen round-robin among connected members (any member when none is connected, so QoS 1/2 messages are queued).
/// The group object is stable for its lifetime (deliveries remember it, to find another member later); its member
/// array is an immutable snapshot replaced under the index's write lock.
/// </summary>
internal sealed class SharedGroup(string name, Subscription[] members)
{
    private int _cursor;
    private volatile Subscription[] _members = members;

    public string Name { get; } = name;

    public Subscription[] Members
    {
        get => _members;
        set => _members = value;
    }

    /// <summary>
    /// The next member that may read <paramref name="topic"/> (round-robin, connected members first, else any that may
    /// read it, so QoS 1/2 messages queue), or null when no member may read it or the group has just lost its last
    /// member (a reader raced the removal). Members without read access never take a share: SUBSCRIBE is granted as
    /// Mosquitto grants it (read access is decided per message), so without this a member that may not read a topic
    /// would silently swallow 1/N of the group's messages on it.
    /// </summary>
    public Subscription? Pick(string topic)
    {
        var members = Members;
        if (members.Length == 0)
        {
            return null;
        }
        var start = (int)((uint)Interlocked.Increment(ref _cursor) % (uint)members.Length);
        Subscription? offline = null;
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(start + i) % members.Length];
            if (candidate.Session.Authorization?.CanReceive(topic) == false)
            {
                continue;
            }
            if (candidate.Session.IsConnected)
            {
                return candidate;
            }
            offline ??= candidate;
        }
        return offline;
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
}
