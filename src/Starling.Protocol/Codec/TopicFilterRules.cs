namespace Starling.Protocol;

/// <summary>Topic filter checks shared by the SUBSCRIBE and UNSUBSCRIBE decoders.</summary>
internal static class TopicFilterRules
{
    /// <summary>
    /// A syntactically invalid filter (empty, misplaced wildcard) is MalformedPacket [MQTT-4.7.1-2], [MQTT-4.7.1-3],
    /// [MQTT-4.7.3-1]. In 5.0 a filter starting with "$share/" that is not a well-formed shared subscription is a
    /// ProtocolError [MQTT-4.8.2-1], [MQTT-4.8.2-2]; before 5.0 such a filter is an ordinary filter.
    /// </summary>
    public static void Check(string filter, ProtocolVersion version)
    {
        if (!TopicValidator.IsValidTopicFilter(filter))
        {
            throw Errors.Malformed("invalid topic filter [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-1]");
        }
        if (version == ProtocolVersion.V500 && TopicValidator.StartsWithSharePrefix(filter)
            && !TopicValidator.IsSharedSubscription(filter, out _, out _))
        {
            throw Errors.Protocol("invalid shared subscription filter [MQTT-4.8.2-1], [MQTT-4.8.2-2]");
        }
    }
}
