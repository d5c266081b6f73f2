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
/// <para>
/// Limits (issue 16, finding 3): <see cref="BrokerOptions.MaxRetainedMessages"/> and
/// <see cref="BrokerOptions.MaxRetainedBytes"/> (topic plus payload bytes). Past them a new topic is not stored and an
/// update that would not fit is refused; deletions always work, and the broker's own $SYS topics are not limited.
/// Every change runs under one lock, so the count and byte total never drift from the dictionary.
/// </para>
/// </summary>
internal sealed class RetainedStore(BrokerStorage storage, BrokerOptions options, BrokerCounters counters, LimitLog limits)
{
    private readonly ConcurrentDictionary<string, Message> _messages = new(StringComparer.Ordinal);
    private readonly Lock _writeGate = new();
    // What the limits count (guarded by _writeGate): clients' retained messages and their topic plus payload bytes. The
    // broker's own $SYS topics are neither counted nor limited.
    private int _count;
    private long _bytes;

    public int Count => _messages.Count;

    /// <summary>Topic plus payload bytes held (clients' topics; not $SYS).</summary>
    public long Bytes { get { lock (_writeGate) { return _bytes; } } }

    /// <summary>
    /// Sets (or, with an empty payload, deletes) a topic's retained message; returns false when a limit refused it
    /// (nothing changed; counted and logged). <paramref name="ticket"/>: the store operation the PUBACK/PUBREC must
    /// wait for (default without a store, for $SYS, or when nothing changed).
    /// </summary>
    public bool TrySet(Message message, out CommitTicket ticket)
    {
        ticket = default;
        // $SYS/... are the broker's own figures, published again every interval: never worth a disk write or a restore.
        var isSys = IsBrokerTopic(message.Topic);
        lock (_writeGate)
        {
            if (message.Payload.Length == 0)
            {
                if (!_messages.TryRemove(message.Topic, out var removed))
                {
                    return true;
                }
                Account(removed, -1);
                if (storage.Enabled && !isSys)
                {
                    ticket = storage.Enqueue(StoreOperation.RemoveRetained(message.Topic));
                }
                return true;
            }
            var existing = _messages.GetValueOrDefault(message.Topic);
            var grow = Size(message) - (existing is null ? 0 : Size(existing));
            if (!isSys && ((existing is null && options.MaxRetainedMessages > 0 && _count >= options.MaxRetainedMessages)
                || (options.MaxRetainedBytes > 0 && grow > 0 && _bytes + grow > options.MaxRetainedBytes)))
            {
                Interlocked.Increment(ref counters.RetainedRefused);
                limits.Write(LimitCause.RetainedMessages, message.Topic);
                return false;
            }
            _messages[message.Topic] = message;
            if (existing is not null)
            {
                Account(existing, -1);
            }
            Account(message, +1);
            if (storage.Enabled && !isSys)
            {
                ticket = storage.Enqueue(StoreOperation.SetRetained(storage.ToStored(message)));
            }
            return true;
        }
    }

    public bool Remove(string topic)
    {
        lock (_writeGate)
        {
            if (!_messages.TryRemove(topic, out var removed))
            {
                return false;
            }
            Account(removed, -1);
            if (storage.Enabled && !IsBrokerTopic(topic))
            {
                storage.Enqueue(StoreOperation.RemoveRetained(topic));
            }
            return true;
        }
    }

    /// <summary>
    /// The broker's own tree: exactly <c>$SYS</c> and <c>$SYS/...</c>. Topics that only start with the same letters
    /// (<c>$SYSTEM/x</c>, <c>$SYSfoo</c>) are clients' topics and are stored (and counted by the limits) like any other
    /// (issue 16, finding 18).
    /// </summary>
    internal static bool IsBrokerTopic(string topic)
        => topic.StartsWith("$SYS", StringComparison.Ordinal) && (topic.Length == 4 || topic[4] == '/');

    /// <summary>Recovery: a retained message read back from the store (no store operation; kept even past the limits).</summary>
    public void Restore(Message message)
    {
        lock (_writeGate)
        {
            if (_messages.GetValueOrDefault(message.Topic) is { } old)
            {
                Account(old, -1);
            }
            _messages[message.Topic] = message;
            Account(message, +1);
        }
    }

    // Topic + payload + properties (Message.AccountedSize): user properties cannot get around MaxRetainedBytes.
    private static long Size(Message message) => message.AccountedSize;

    // Caller holds _writeGate: a client's message enters (+1) or leaves (-1) what the limits count.
    private void Account(Message message, int sign)
    {
        if (!IsBrokerTopic(message.Topic))
        {
            _count += sign;
            _bytes += sign * Size(message);
        }
    }

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
