using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Starling.Broker;

/// <summary>
/// One level of the wildcard trie. Children are looked up by span, without allocating a string per level.
/// Memory: most nodes are leaves (the last level of a filter such as <c>dev/{id}/#</c>), so the child map exists only
/// while the node has children; an empty concurrent dictionary alone costs ~600 B. Writers (under the index's write
/// lock) create and drop the map; readers see either null or a complete map (a volatile reference), never a map
/// being built.
/// </summary>
internal sealed class TopicNode
{
    private volatile ChildMap? _children;

    /// <summary>Filters that end at this level.</summary>
    public FilterEntry? Here { get; set; }

    /// <summary>Filters that end with '#' after this level (they also match this level itself).</summary>
    public FilterEntry? MultiLevel { get; set; }

    /// <summary>The '+' child.</summary>
    public TopicNode? SingleLevel { get; set; }

    public bool IsEmpty => _children is null && Here is null && MultiLevel is null && SingleLevel is null;

    /// <summary>Lock-free: the child named <paramref name="level"/>, if any.</summary>
    public bool TryGetChild(ReadOnlySpan<char> level, [NotNullWhen(true)] out TopicNode? child)
    {
        if (_children is { } children)
        {
            return children.Lookup.TryGetValue(level, out child);
        }
        child = null;
        return false;
    }

    /// <summary>Writers only (index write lock held).</summary>
    public TopicNode GetOrAddChild(string level)
    {
        var children = _children ??= new ChildMap();
        return children.Map.GetOrAdd(level, static _ => new TopicNode());
    }

    /// <summary>Writers only (index write lock held).</summary>
    public void RemoveChild(string level)
    {
        if (_children is { } children && children.Map.TryRemove(level, out _) && children.Map.IsEmpty)
        {
            _children = null;
        }
    }

    private sealed class ChildMap
    {
        public ChildMap() => Lookup = Map.GetAlternateLookup<ReadOnlySpan<char>>();

        public ConcurrentDictionary<string, TopicNode> Map { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, TopicNode>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; }
    }
}
