namespace Starling.Broker.Storage;

/// <summary>
/// A store that keeps everything in this process's memory: nothing survives the process. It implements the whole
/// <see cref="IStore"/> contract (so a broker restarted on the same instance recovers, which unit tests use); the
/// server's <c>--memory</c> mode does not use a store at all.
/// </summary>
public sealed class MemoryStore : IStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StoredSession> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<(string ClientId, string Filter), StoredSubscription> _subscriptions = [];
    private readonly Dictionary<long, StoredMessage> _messages = [];
    private readonly SortedDictionary<(string ClientId, long Sequence), Row> _deliveries = new(Comparer<(string, long)>.Create(
        static (a, b) => string.CompareOrdinal(a.Item1, b.Item1) is var c and not 0 ? c : a.Item2.CompareTo(b.Item2)));
    private readonly HashSet<(string ClientId, ushort PacketId)> _inbound = [];
    private readonly Dictionary<string, long> _retained = new(StringComparer.Ordinal);
    private readonly Dictionary<long, int> _deliveryRefs = [];

    public string Description => "in-memory store";

    /// <summary>Number of stored messages (for tests: messages are stored once, however many deliveries refer to them).</summary>
    public int MessageCount { get { lock (_gate) { return _messages.Count; } } }

    public StoreStatistics GetStatistics()
    {
        lock (_gate)
        {
            return new StoreStatistics(_sessions.Count, _subscriptions.Count, _messages.Count, _deliveries.Count, _inbound.Count, _retained.Count);
        }
    }

    public StoreContents Load()
    {
        lock (_gate)
        {
            var contents = new StoreContents();
            contents.Sessions.AddRange(_sessions.Values);
            contents.Subscriptions.AddRange(_subscriptions.Values);
            var queues = new Dictionary<string, (long Count, long Bytes, long Last)>(StringComparer.Ordinal);
            foreach (var ((clientId, seq), row) in _deliveries)
            {
                queues.TryGetValue(clientId, out var q);
                q.Last = Math.Max(q.Last, seq);
                if (row.State == StoredDeliveryState.Queued)
                {
                    q.Count++;
                    q.Bytes += _messages[row.MessageId].AccountedSize;
                }
                else
                {
                    contents.Inflight.Add(ToDelivery(clientId, seq, row));
                }
                queues[clientId] = q;
            }
            foreach (var (clientId, q) in queues)
            {
                contents.Queues.Add(new StoredQueueSummary(clientId, q.Count, q.Bytes, q.Last));
            }
            foreach (var (clientId, packetId) in _inbound)
            {
                contents.InboundQoS2.Add(new StoredInboundQoS2(clientId, packetId));
            }
            foreach (var id in _retained.Values)
            {
                contents.Retained.Add(_messages[id]);
            }
            contents.MaxMessageId = _messages.Count == 0 ? 0 : _messages.Keys.Max();
            return contents;
        }
    }

    public IReadOnlyList<StoredDelivery> LoadQueued(string clientId, long afterSequence, int limit)
    {
        lock (_gate)
        {
            var result = new List<StoredDelivery>();
            foreach (var ((id, seq), row) in _deliveries)
            {
                if (id == clientId && seq > afterSequence && row.State == StoredDeliveryState.Queued)
                {
                    result.Add(ToDelivery(id, seq, row));
                    if (result.Count >= limit)
                    {
                        break;
                    }
                }
            }
            return result;
        }
    }

    public void Apply(IReadOnlyList<StoreOperation> operations)
    {
        lock (_gate)
        {
            var candidates = new HashSet<long>();
            foreach (var op in operations)
            {
                ApplyOne(op, candidates);
            }
            foreach (var id in candidates)
            {
                if (!_deliveryRefs.ContainsKey(id) && !_retained.ContainsValue(id))
                {
                    _messages.Remove(id);
                }
            }
        }
    }

    private void ApplyOne(StoreOperation op, HashSet<long> candidates)
    {
        switch (op.Kind)
        {
            case StoreOperationKind.UpsertSession:
                var will = _sessions.TryGetValue(op.ClientId, out var existing) ? existing.Will : null;
                _sessions[op.ClientId] = op.Session! with { Will = will };
                break;
            case StoreOperationKind.DeleteSession:
                _sessions.Remove(op.ClientId);
                foreach (var key in _subscriptions.Keys.Where(k => k.ClientId == op.ClientId).ToList())
                {
                    _subscriptions.Remove(key);
                }
                foreach (var key in _deliveries.Keys.Where(k => k.ClientId == op.ClientId).ToList())
                {
                    Unref(_deliveries[key].MessageId, candidates);
                    _deliveries.Remove(key);
                }
                _inbound.RemoveWhere(k => k.ClientId == op.ClientId);
                break;
            case StoreOperationKind.SetWill:
                if (_sessions.TryGetValue(op.ClientId, out var s1))
                {
                    _sessions[op.ClientId] = s1 with { Will = op.Will };
                }
                break;
            case StoreOperationKind.ClearWill:
                if (_sessions.TryGetValue(op.ClientId, out var s2))
                {
                    _sessions[op.ClientId] = s2 with { Will = null };
                }
                break;
            case StoreOperationKind.AddSubscription:
                _subscriptions[(op.ClientId, op.Subscription!.Filter)] = op.Subscription;
                break;
            case StoreOperationKind.RemoveSubscription:
                _subscriptions.Remove((op.ClientId, op.Filter!));
                break;
            case StoreOperationKind.AddDelivery:
                _messages.TryAdd(op.Message!.Id, op.Message);
                if (_deliveries.TryGetValue((op.ClientId, op.Sequence), out var replaced))
                {
                    Unref(replaced.MessageId, candidates);
                }
                _deliveryRefs[op.Message.Id] = _deliveryRefs.GetValueOrDefault(op.Message.Id) + 1;
                _deliveries[(op.ClientId, op.Sequence)] = new Row(op.Message.Id, op.QoS, op.Retain, op.SubscriptionIds, op.PacketId, op.State);
                break;
            case StoreOperationKind.UpdateDelivery:
                if (_deliveries.TryGetValue((op.ClientId, op.Sequence), out var row))
                {
                    _deliveries[(op.ClientId, op.Sequence)] = row with { PacketId = op.PacketId, State = op.State };
                }
                break;
            case StoreOperationKind.RemoveDelivery:
                if (_deliveries.Remove((op.ClientId, op.Sequence), out var removed))
                {
                    Unref(removed.MessageId, candidates);
                }
                break;
            case StoreOperationKind.AddInboundQoS2:
                _inbound.Add((op.ClientId, op.PacketId));
                break;
            case StoreOperationKind.RemoveInboundQoS2:
                _inbound.Remove((op.ClientId, op.PacketId));
                break;
            case StoreOperationKind.SetRetained:
                _messages.TryAdd(op.Message!.Id, op.Message);
                if (_retained.TryGetValue(op.Topic, out var old))
                {
                    candidates.Add(old);
                }
                _retained[op.Topic] = op.Message.Id;
                break;
            case StoreOperationKind.RemoveRetained:
                if (_retained.Remove(op.Topic, out var gone))
                {
                    candidates.Add(gone);
                }
                break;
            default:
                throw new StoreException($"unknown store operation {op.Kind}");
        }
    }

    private void Unref(long messageId, HashSet<long> candidates)
    {
        var n = _deliveryRefs[messageId] - 1;
        if (n == 0)
        {
            _deliveryRefs.Remove(messageId);
            candidates.Add(messageId);
        }
        else
        {
            _deliveryRefs[messageId] = n;
        }
    }

    private StoredDelivery ToDelivery(string clientId, long seq, Row row)
        => new(clientId, seq, _messages[row.MessageId], row.QoS, row.Retain, row.SubscriptionIds, row.PacketId, row.State);

    public void Dispose()
    {
    }

    private readonly record struct Row(long MessageId, Protocol.QualityOfService QoS, bool Retain, uint[]? SubscriptionIds, ushort PacketId, StoredDeliveryState State);
}
