using System.Collections.Concurrent;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Retained messages, one per topic. A retained PUBLISH with an empty payload deletes the topic's message
/// [MQTT-3.3.1-10/11]. Lookups for a wildcard filter scan every retained topic: SUBSCRIBE is rare next to PUBLISH,
/// and the scan is a plain string match per topic.
/// With a store, every change is also queued for the store's writer (under one lock, so the store ends with the same
/// message per topic as memory when publishers race); the PUBACK of a retained publish waits for its commit.
/// The broker's own $SYS topics are not stored.
/// </summary>
internal sealed class RetainedStore(BrokerStorage storage)
{
    private readonly ConcurrentDictionary<string, Message> _messages = new(StringComparer.Ordinal);
    private readonly Lock _writeGate = new();

    public int Count => _messages.Count;

    /// <summary>
    /// Sets (or, with an empty payload, deletes) a topic's retained message; returns the ticket of the store operation
    /// the PUBACK/PUBREC must wait for (default without a store, for $SYS, or when nothing changed).
    /// </summary>
    public CommitTicket Set(Message message)
    {
        // $SYS/... are the broker's own figures, published again every interval: never worth a disk write or a restore.
        if (!storage.Enabled || IsBrokerTopic(message.Topic))
        {
            if (message.Payload.Length == 0)
            {
                _messages.TryRemove(message.Topic, out _);
            }
            else
            {
                _messages[message.Topic] = message;
            }
            return default;
        }
        lock (_writeGate)
        {
            if (message.Payload.Length == 0)
            {
                return _messages.TryRemove(message.Topic, out _) ? storage.Enqueue(StoreOperation.RemoveRetained(message.Topic)) : default;
            }
            _messages[message.Topic] = message;
            return storage.Enqueue(StoreOperation.SetRetained(storage.ToStored(message)));
        }
    }

    public bool Remove(string topic)
    {
        lock (_writeGate)
        {
            if (!_messages.TryRemove(topic, out _))
            {
                return false;
            }
            if (!IsBrokerTopic(topic))
            {
                storage.Enqueue(StoreOperation.RemoveRetained(topic));
            }
            return true;
        }
    }

    /// <summary>
    /// The broker's own tree: exactly <c>$SYS</c> and <c>$SYS/...</c>. Topics that only start with the same letters
    /// (<c>$SYSTEM/x</c>, <c>$SYSfoo</c>) are clients' topics and are stored like any other (issue 16, finding 18).
    /// </summary>
    internal static bool IsBrokerTopic(string topic)
        => topic.StartsWith("$SYS", StringComparison.Ordinal) && (topic.Length == 4 || topic[4] == '/');

    /// <summary>Recovery: a retained message read back from the store (no store operation).</summary>
    public void Restore(Message message) => _messages[message.Topic] = message;

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
            if (TopicFilter.Matches(filter, topic))
            {
                yield return message;
            }
        }
    }
}
