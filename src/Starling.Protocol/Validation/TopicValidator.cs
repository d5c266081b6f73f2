namespace Starling.Protocol;

/// <summary>Topic name and topic filter syntax (4.7) and shared subscriptions (4.8.2); matching is <see cref="TopicFilter"/>.</summary>
public static class TopicValidator
{
    private const string SharePrefix = "$share/";

    /// <summary>A PUBLISH topic name: at least one character, no '+' or '#', no U+0000 [MQTT-3.3.2-2], [MQTT-4.7.3-1].</summary>
    public static bool IsValidTopicName(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        // [MQTT-4.7.3-1] at least one character; [MQTT-4.7.3-2] no U+0000 and [MQTT-4.7.3-3] at most 65,535 bytes (checked
        // by the UTF-8 validator, which also rejects unpaired surrogates); [MQTT-3.3.2-2] no wildcards.
        return topic.Length > 0 && topic.AsSpan().IndexOfAny('+', '#') < 0 && Utf8Validator.IsValid(topic);
    }

    /// <summary>A SUBSCRIBE/UNSUBSCRIBE filter: '#' only last and alone in its level, '+' alone in its level [MQTT-4.7.1-2], [MQTT-4.7.1-3].</summary>
    public static bool IsValidTopicFilter(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return filter.Length > 0 && IsValidFilterSyntax(filter) && Utf8Validator.IsValid(filter);
    }

    /// <summary>True when the filter contains '+' or '#'.</summary>
    public static bool HasWildcards(string filter) => filter.AsSpan().IndexOfAny('+', '#') >= 0;

    /// <summary>
    /// Recognises a shared subscription <c>$share/{ShareName}/{filter}</c> (4.8.2): the share name is at least one
    /// character and has no '/', '+' or '#' [MQTT-4.8.2-1], [MQTT-4.8.2-2], and the filter after it is a non-empty valid
    /// topic filter. False for anything else, including filters that start with "$share/" but break those rules
    /// (a receiver treats those as a ProtocolError in 5.0).
    /// </summary>
    public static bool IsSharedSubscription(string filter, out string shareName, out string innerFilter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        shareName = "";
        innerFilter = "";
        if (!StartsWithSharePrefix(filter))
        {
            return false;
        }
        var rest = filter.AsSpan(SharePrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0)
        {
            return false;
        }
        var name = rest[..slash];
        var inner = rest[(slash + 1)..];
        if (name.IndexOfAny('+', '#') >= 0 || inner.IsEmpty || !IsValidFilterSyntax(inner) || !Utf8Validator.IsValid(filter))
        {
            return false;
        }
        shareName = name.ToString();
        innerFilter = inner.ToString();
        return true;
    }

    /// <summary>True when <paramref name="filter"/> starts with "$share/" (whether or not the rest is well formed).</summary>
    public static bool StartsWithSharePrefix(string filter) => filter.StartsWith(SharePrefix, StringComparison.Ordinal);

    /// <summary>Level rules of 4.7.1 over the characters; emptiness and UTF-8 are checked by the callers.</summary>
    private static bool IsValidFilterSyntax(ReadOnlySpan<char> filter)
    {
        var i = filter.IndexOfAny('+', '#');
        while (i >= 0)
        {
            var atLevelStart = i == 0 || filter[i - 1] == '/';
            var atLevelEnd = i == filter.Length - 1 || filter[i + 1] == '/';
            if (!atLevelStart || !atLevelEnd)
            {
                return false; // [MQTT-4.7.1-2] / [MQTT-4.7.1-3]: the wildcard must occupy its entire level
            }
            if (filter[i] == '#' && i != filter.Length - 1)
            {
                return false; // [MQTT-4.7.1-2]: '#' must be the last character
            }
            var next = filter[(i + 1)..].IndexOfAny('+', '#');
            i = next < 0 ? -1 : i + 1 + next;
        }
        return true;
    }
}
