namespace Starling.Protocol;

/// <summary>Topic name and topic filter syntax (4.7).</summary>
public static class TopicValidator
{
    /// <summary>A PUBLISH topic name: at least one character, no '+' or '#', no U+0000 [MQTT-3.3.2-2], [MQTT-4.7.3-1].</summary>
    public static bool IsValidTopicName(string topic) => throw new NotImplementedException();

    /// <summary>A SUBSCRIBE/UNSUBSCRIBE filter: '#' only last and alone in its level, '+' alone in its level [MQTT-4.7.1-2], [MQTT-4.7.1-3].</summary>
    public static bool IsValidTopicFilter(string filter) => throw new NotImplementedException();

    /// <summary>True when the filter contains '+' or '#'.</summary>
    public static bool HasWildcards(string filter) => filter.AsSpan().IndexOfAny('+', '#') >= 0;
}
