using System.Collections.Concurrent;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The subscription index: a hash of exact (wildcard-free) filters plus a trie of wildcard filters, each filter with
/// its plain subscribers and shared-subscription groups.
/// Concurrency: writers (SUBSCRIBE, UNSUBSCRIBE, session end) serialize on one lock and publish immutable arrays;
/// <see cref="Match"/> takes no lock, so routing cost follows the number of matches, not of writers or clients.
/// </summary>
internal sealed class TopicIndex
{
    private readonly Lock _writeLock = new();
    private readonly ConcurrentDictionary<string, FilterEntry> _exact = new(StringComparer.Ordinal);
    private readonly TopicNode _root = new();
    private volatile int _wildcardFilters;
    private int _count;

    /// <summary>Number of subscriptions (plain and shared members).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds or replaces the subscription of <see cref="Subscription.Session"/> to its filter; true when it replaced one.</summary>
    public bool Add(Subscription subscription)
    {
        lock (_writeLock)
        {
            var entry = GetOrCreateEntry(subscription.TopicFilter);
            bool replaced;
            if (subscription.ShareName is null)
            {
                var current = entry.Subscribers;
                var at = IndexOf(current, subscription.Session);
                replaced = at >= 0;
                entry.Subscribers = replaced ? ReplaceAt(current, at, subscription) : [.. current, subscription];
            }
            else
            {
                var groups = entry.Groups;
                var g = Array.FindIndex(groups, x => x.Name == subscription.ShareName);
                if (g < 0)
                {
                    replaced = false;
                    entry.Groups = [.. groups, new SharedGroup(subscription.ShareName, [subscription])];
                }
                else
                {
                    var members = groups[g].Members;
                    var at = IndexOf(members, subscription.Session);
                    replaced = at >= 0;
                    groups[g].Members = replaced ? ReplaceAt(members, at, subscription) : [.. members, subscription];
                }
            }
            if (!replaced)
            {
                _count++;
            }
            return replaced;
        }
    }

    /// <summary>Removes this exact subscription object (a replaced one is left alone); true when it was there.</summary>
    public bool Remove(Subscription subscription)
    {
        lock (_writeLock)
        {
            var entry = FindEntry(subscription.TopicFilter);
            if (entry is null)
            {
                return false;
            }
            var removed = false;
            if (subscription.ShareName is null)
            {
                var current = entry.Subscribers;
                var at = Array.IndexOf(current, subscription);
                if (at >= 0)
                {
                    entry.Subscribers = RemoveAt(current, at);
                    removed = true;
                }
            }
            else
            {
                var groups = entry.Groups;
                var g = Array.FindIndex(groups, x => x.Name == subscription.ShareName);
                if (g >= 0)
                {
                    var at = Array.IndexOf(groups[g].Members, subscription);
                    if (at >= 0)
                    {
                        var members = RemoveAt(groups[g].Members, at);
                        groups[g].Members = members;
                        if (members.Length == 0)
                        {
                            entry.Groups = RemoveAt(groups, g);
                        }
                        removed = true;
                    }
                }
            }
            if (removed)
            {
                _count--;
                if (entry.IsEmpty)
                {
                    DeleteEntry(subscription.TopicFilter);
                }
            }
            return removed;
        }
    }

    /// <summary>
    /// Appends every subscription matching <paramref name="topic"/> to <paramref name="plain"/> and every matching shared
    /// group to <paramref name="groups"/>. Lock-free; allocates nothing.
    /// </summary>
    public void Match(string topic, List<Subscription> plain, List<SharedGroup> groups)
    {
        if (_exact.TryGetValue(topic, out var exact))
        {
            Collect(exact, plain, groups);
        }
        if (_wildcardFilters > 0)
        {
            var dollar = topic.Length > 0 && topic[0] == '$';
            MatchLevel(_root, topic, 0, dollar, plain, groups);
        }
    }

    private static void MatchLevel(TopicNode node, string topic, int position, bool dollarAtFirstLevel, List<Subscription> plain, List<SharedGroup> groups)
    {
        // '#' matches the parent level and any number of levels below it, but a first-level wildcard never matches a
        // topic that starts with '$' [MQTT-4.7.2-1].
        if (node.MultiLevel is { } multi && !dollarAtFirstLevel)
        {
            Collect(multi, plain, groups);
        }
        if (position > topic.Length)
        {
            if (node.Here is { } here)
            {
                Collect(here, plain, groups);
            }
            return;
        }
        var rest = topic.AsSpan(position);
        var slash = rest.IndexOf('/');
        var level = slash < 0 ? rest : rest[..slash];
        var next = slash < 0 ? topic.Length + 1 : position + slash + 1;
        if (node.TryGetChild(level, out var child))
        {
            MatchLevel(child, topic, next, false, plain, groups);
        }
        if (node.SingleLevel is { } single && !dollarAtFirstLevel)
        {
            MatchLevel(single, topic, next, false, plain, groups);
        }
    }

    private static void Collect(FilterEntry entry, List<Subscription> plain, List<SharedGroup> groups)
    {
        foreach (var s in entry.Subscribers)
        {
            plain.Add(s);
        }
        foreach (var g in entry.Groups)
        {
            groups.Add(g);
        }
    }

    private FilterEntry GetOrCreateEntry(string filter)
    {
        if (!TopicValidator.HasWildcards(filter))
        {
            return _exact.GetOrAdd(filter, static _ => new FilterEntry());
        }
        var node = _root;
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level == "#")
            {
                if (node.MultiLevel is null)
                {
                    node.MultiLevel = new FilterEntry();
                    _wildcardFilters++;
                }
                return node.MultiLevel;
            }
            node = level == "+" ? node.SingleLevel ??= new TopicNode() : node.GetOrAddChild(level);
        }
        if (node.Here is null)
        {
            node.Here = new FilterEntry();
            _wildcardFilters++;
        }
        return node.Here;
    }

    private FilterEntry? FindEntry(string filter)
    {
        if (!TopicValidator.HasWildcards(filter))
        {
            return _exact.TryGetValue(filter, out var e) ? e : null;
        }
        var node = _root;
        foreach (var level in filter.Split('/'))
        {
            if (level == "#")
            {
                return node.MultiLevel;
            }
            TopicNode? next;
            if (level == "+")
            {
                next = node.SingleLevel;
            }
            else
            {
                node.TryGetChild(level, out next);
            }
            if (next is null)
            {
                return null;
            }
            node = next;
        }
        return node.Here;
    }

    private void DeleteEntry(string filter)
    {
        if (!TopicValidator.HasWildcards(filter))
        {
            _exact.TryRemove(filter, out _);
            return;
        }
        var levels = filter.Split('/');
        var path = new TopicNode[levels.Length + 1];
        path[0] = _root;
        var depth = 0;
        for (; depth < levels.Length; depth++)
        {
            var level = levels[depth];
            if (level == "#")
            {
                path[depth].MultiLevel = null;
                _wildcardFilters--;
                break;
            }
            TopicNode? next;
            if (level == "+")
            {
                next = path[depth].SingleLevel;
            }
            else
            {
                path[depth].TryGetChild(level, out next);
            }
            if (next is null)
            {
                return;
            }
            path[depth + 1] = next;
        }
        if (depth == levels.Length)
        {
            path[depth].Here = null;
            _wildcardFilters--;
        }
        // Prune now-empty nodes bottom-up, so the trie does not grow with filters that are gone.
        for (var i = Math.Min(depth, levels.Length - 1); i >= 0; i--)
        {
            var child = path[i + 1];
            if (child is null || !child.IsEmpty)
            {
                break;
            }
            if (levels[i] == "+")
            {
                path[i].SingleLevel = null;
            }
            else
            {
                path[i].RemoveChild(levels[i]);
            }
        }
    }

    private static int IndexOf(Subscription[] array, Session session)
    {
        for (var i = 0; i < array.Length; i++)
        {
            if (ReferenceEquals(array[i].Session, session))
            {
                return i;
            }
        }
        return -1;
    }

    private static T[] ReplaceAt<T>(T[] array, int index, T value)
    {
        var copy = (T[])array.Clone();
        copy[index] = value;
        return copy;
    }

    private static T[] RemoveAt<T>(T[] array, int index)
    {
        var copy = new T[array.Length - 1];
        Array.Copy(array, 0, copy, 0, index);
        Array.Copy(array, index + 1, copy, index, array.Length - index - 1);
        return copy;
    }
}
