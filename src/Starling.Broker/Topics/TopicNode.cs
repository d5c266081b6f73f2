using System.Collections.Concurrent;

namespace Starling.Broker;

/// <summary>One level of the wildcard trie. Children are looked up by span, without allocating a string per level.</summary>
internal sealed class TopicNode
{
    private readonly ConcurrentDictionary<string, TopicNode> _children = new(StringComparer.Ordinal);

    public TopicNode()
        => ChildLookup = _children.GetAlternateLookup<ReadOnlySpan<char>>();

    public ConcurrentDictionary<string, TopicNode>.AlternateLookup<ReadOnlySpan<char>> ChildLookup { get; }

    /// <summary>Filters that end at this level.</summary>
    public FilterEntry? Here { get; set; }

    /// <summary>Filters that end with '#' after this level (they also match this level itself).</summary>
    public FilterEntry? MultiLevel { get; set; }

    /// <summary>The '+' child.</summary>
    public TopicNode? SingleLevel { get; set; }

    public bool IsEmpty => _children.IsEmpty && Here is null && MultiLevel is null && SingleLevel is null;

    public TopicNode GetOrAddChild(string level) => _children.GetOrAdd(level, static _ => new TopicNode());

    public bool TryGetChild(string level, out TopicNode? child) => _children.TryGetValue(level, out child);

    public void RemoveChild(string level) => _children.TryRemove(level, out _);
}
