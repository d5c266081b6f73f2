namespace Starling.Broker.Security;

/// <summary>Allocation-free topic and filter matching for permission checks.</summary>
public static class TopicMatcher
{
    /// <summary>
    /// Does <paramref name="topic"/> match <paramref name="filter"/> ('+' one level, '#' the rest including the parent)?
    /// Topics starting with '$' are not matched by a filter starting with a wildcard [MQTT-4.7.2-1].
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && filter[0] is '+' or '#')
        {
            return false;
        }
        while (true)
        {
            var fEnd = filter.IndexOf('/');
            var fLevel = fEnd < 0 ? filter : filter[..fEnd];
            if (fLevel is "#")
            {
                return true;
            }
            var tEnd = topic.IndexOf('/');
            var tLevel = tEnd < 0 ? topic : topic[..tEnd];
            if (!(fLevel is "+" || fLevel.SequenceEqual(tLevel)))
            {
                return false;
            }
            if (fEnd < 0 || tEnd < 0)
            {
                // Both must end here, or the filter may continue with a final "/#" (which matches the parent level).
                return fEnd < 0 && tEnd < 0 || (tEnd < 0 && filter[(fEnd + 1)..] is "#");
            }
            filter = filter[(fEnd + 1)..];
            topic = topic[(tEnd + 1)..];
        }
    }

    /// <summary>
    /// Is every topic that <paramref name="inner"/> matches also matched by <paramref name="outer"/>? (A subscription
    /// to <paramref name="inner"/> stays within a permission for <paramref name="outer"/>.)
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
                return oEnd < 0 && iEnd < 0 || (iEnd < 0 && outer[(oEnd + 1)..] is "#");
            }
            outer = outer[(oEnd + 1)..];
            inner = inner[(iEnd + 1)..];
        }
    }

    /// <summary>Number of levels ('/'-separated parts) of a topic or filter.</summary>
    public static int Levels(ReadOnlySpan<char> topic) => topic.Count('/') + 1;
}
