using Starling.Protocol;

namespace Starling.Broker.Security;

/// <summary>
/// Transitional forwarder: topic matching lives in <see cref="TopicFilter"/> (Starling.Protocol). This type remains
/// only because MqttConnection.Security.cs (being split by the connection part of issue 15) still calls
/// <see cref="Levels"/>; when that call becomes <see cref="TopicFilter.Levels"/>, delete this file.
/// </summary>
internal static class TopicMatcher
{
    /// <inheritdoc cref="TopicFilter.Levels"/>
    public static int Levels(ReadOnlySpan<char> topic) => TopicFilter.Levels(topic);
}
