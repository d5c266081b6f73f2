using System.Collections.Concurrent;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Retained messages, one per topic. A retained PUBLISH with an empty payload deletes the topic's message
/// [MQTT-3.3.1-10/11]. Lookups for a wildcard filter scan every retained topic: SUBSCRIBE is rare next to PUBLISH,
/// and the scan is a plain string match per topic.
/// </summary>
internal sealed class RetainedStore
{
    private readonly ConcurrentDictionary<string, Message> _messages = new(StringComparer.Ordinal);

    public int Count => _messages.Count;

    public void Set(Message message)
    {
        if (message.Payload.Length == 0)
        {
            _messages.TryRemove(message.Topic, out _);
        }
        else
        {
            _messages[message.Topic] = message;
        }
    }

    public bool Remove(string topic) => _messages.TryRemove(topic, out _);

    public IEnumerable<Message> All => _messages.Values;

    /// <summary>The retained messages whose topic matches <paramref name="filter"/>.</summary>
    public IEnumerable<Message> Matching(string filter)
    {
        if (!TopicValidator.HasWildcards(filter))
        {
            if (_messages.TryGetValue(filter, out var one))
            {
                yield return one;
            }
            yield break;
        }
        foreach (var (topic, message) in _messages)
        {
            if (TopicValidator.Matches(filter, topic))
            {
                yield return message;
            }
        }
    }
}
