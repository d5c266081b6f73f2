namespace Starling.Protocol;

/// <summary>
/// Topic filter semantics (4.7): the one implementation of "does this topic name match this filter", used by
/// retained-message lookup, ACL rules and token permissions alike. Everything here works over spans and allocates
/// nothing, so it may run per message on the hot path. The subscription trie (Broker TopicIndex) is an index, not a
/// second matcher: it must agree with <see cref="Matches"/> (both are tested against the examples of 4.7).
/// </summary>
public static class TopicFilter
{
    /// <summary>
    /// Whether the topic name <paramref name="topic"/> matches the topic filter <paramref name="filter"/>: '+' matches
    /// exactly one level, possibly empty [MQTT-4.7.1-3]; '#' matches the parent level and any number of child levels
    /// ("sport/#" matches "sport") [MQTT-4.7.1-2]; a filter starting with a wildcard does not match a topic starting
    /// with '$' [MQTT-4.7.2-1]. Ordinal comparison. Empty filters or topics (invalid per 4.7.3) match nothing. The
    /// filter's syntax is not checked (callers pass validated filters); for a shared subscription pass its inner filter.
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (filter.IsEmpty || topic.IsEmpty)
        {
            return false;
        }
        if (topic[0] == '$' && filter[0] is '+' or '#')
        {
            return false; // [MQTT-4.7.2-1]
        }
        while (true)
        {
            var fEnd = filter.IndexOf('/');
            var fLevel = fEnd < 0 ? filter : filter[..fEnd];
            if (fLevel is "#")
            {
                return true; // matches this level and everything below it
            }
            var tEnd = topic.IndexOf('/');
            var tLevel = tEnd < 0 ? topic : topic[..tEnd];
            if (!(fLevel is "+" || fLevel.SequenceEqual(tLevel)))
            {
                return false;
            }
            if (fEnd < 0)
            {
                return tEnd < 0; // filter exhausted: match only when the topic is too
            }
            filter = filter[(fEnd + 1)..];
            if (tEnd < 0)
            {
                // Topic exhausted with filter levels left: only a trailing "#" matches the parent level ("sport/#" vs "sport").
                return filter is "#";
            }
            topic = topic[(tEnd + 1)..];
        }
    }

    /// <summary>
    /// Is every topic that the filter <paramref name="inner"/> matches also matched by the filter <paramref name="outer"/>?
    /// (A subscription to <paramref name="inner"/> stays within a permission granted for <paramref name="outer"/>.)
    /// Conservative: a wildcard in <paramref name="inner"/> is covered only by a wildcard in <paramref name="outer"/>
    /// ('+' by '+' or '#', '#' by '#'). The '$' rule [MQTT-4.7.2-1] is not applied here: "+/x" covers "$SYS/x" although
    /// <see cref="Matches"/> would not match "$SYS/x" with "+/x"; callers that grant subscriptions this way must still
    /// check each delivered topic with <see cref="Matches"/> (the JWT permissions do).
    /// </summary>
    public static bool Covers(ReadOnlySpan<char> outer, ReadOnlySpan<char> inner)
    {
        while (true)
        {
            var oEnd = outer.IndexOf('/');
            var oLevel = oEnd < 0 ? outer : outer[..oEnd];
            if (oLevel is "#")
            {
                return true;
            }
            var iEnd = inner.IndexOf('/');
            var iLevel = iEnd < 0 ? inner : inner[..iEnd];
            if (iLevel is "#")
            {
                return false;
            }
            if (!(oLevel is "+" || (iLevel is not "+" && oLevel.SequenceEqual(iLevel))))
            {
                return false;
            }
            if (oEnd < 0 || iEnd < 0)
            {
                // Both must end here, or the outer filter may continue with a final "/#" (which matches the parent level).
                return oEnd < 0 && iEnd < 0 || (iEnd < 0 && outer[(oEnd + 1)..] is "#");
            }
            outer = outer[(oEnd + 1)..];
            inner = inner[(iEnd + 1)..];
        }
    }

    /// <summary>Number of levels ('/'-separated parts) of a topic name or filter: "a" has one, "a/" and "/a" two.</summary>
    public static int Levels(ReadOnlySpan<char> topicOrFilter) => topicOrFilter.Count('/') + 1;
}
