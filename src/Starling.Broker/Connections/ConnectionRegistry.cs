namespace Starling.Broker;

/// <summary>
/// Every open connection, connected or still before CONNECT, each in a numbered slot of one array; the Heartbeat and
/// shutdown walk it. It also keeps the broker's connection counts (running, connected, lingering transports) and the
/// stopping flag, which admission and shutdown read. A slot costs 8 bytes of the array where a <c>ConcurrentDictionary</c> entry costs a 40-byte node
/// and about 20 bytes of buckets (idle-connection memory, docs/performance.md finding 2).
/// Concurrency: <see cref="Add"/> and <see cref="Remove"/> serialize on one lock (a few per connection's life);
/// walking takes no lock and sees the array as it was when the walk began, so it may miss a connection added
/// meanwhile (the next tick sees it) or visit one that has just been removed (whose checks are then no-ops).
/// </summary>
internal sealed class ConnectionRegistry
{
    private readonly Lock _gate = new();
    // Replaced by a larger copy when full; a slot is reused after Remove. Never shrinks (as a dictionary's buckets).
    private MqttConnection?[] _slots = new MqttConnection?[256];
    private readonly Stack<int> _free = new();
    private int _used;

    /// <summary>Registers <paramref name="connection"/>; returns its slot, for <see cref="Remove"/>.</summary>
    public int Add(MqttConnection connection)
    {
        lock (_gate)
        {
            var slot = _free.Count > 0 ? _free.Pop() : _used++;
            if (slot == _slots.Length)
            {
                var grown = new MqttConnection?[_slots.Length * 2];
                Array.Copy(_slots, grown, _slots.Length);
                Volatile.Write(ref _slots, grown);
            }
            Volatile.Write(ref _slots[slot], connection);
            return slot;
        }
    }

    /// <summary>Unregisters the connection that <see cref="Add"/> gave <paramref name="slot"/>; called once.</summary>
    public void Remove(int slot)
    {
        lock (_gate)
        {
            Volatile.Write(ref _slots[slot], null);
            _free.Push(slot);
        }
    }

    /// <summary>Walks the registered connections without a lock (see the class remarks).</summary>
    public Enumerator GetEnumerator() => new(Volatile.Read(ref _slots));

    /// <summary>A walk over one snapshot of the slot array.</summary>
    public struct Enumerator(MqttConnection?[] slots)
    {
        private int _index = -1;

        public MqttConnection Current { get; private set; } = null!;

        public bool MoveNext()
        {
            while (++_index < slots.Length)
            {
                if (Volatile.Read(ref slots[_index]) is { } connection)
                {
                    Current = connection;
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>Set by StopAsync: new connections are refused.</summary>
    public volatile bool Stopping;

    private int _connectedCount;
    // Connections whose RunAsync has started and not finished; StopAsync waits for it to reach 0. A counter instead of
    // a set of tasks: nothing per connection (an idle connection's memory is what finding 2 of docs/performance.md is about).
    private int _runningConnections;
    private TaskCompletionSource? _allEnded;
    // Sockets of ended connections still open for a lingering close (MqttBroker.TransportLingering).
    private int _lingeringTransports;

    /// <summary>Connections that completed CONNECT and are attached to a session.</summary>
    public int ConnectedCount => Volatile.Read(ref _connectedCount);

    public void OnConnected() => Interlocked.Increment(ref _connectedCount);

    public void OnDisconnected() => Interlocked.Decrement(ref _connectedCount);

    public int RunningConnections => Volatile.Read(ref _runningConnections);

    public void ConnectionStarted() => Interlocked.Increment(ref _runningConnections);

    /// <summary>Descriptors held by transports: running connections and sockets still lingering after theirs ended.</summary>
    public int OpenTransports => RunningConnections + Volatile.Read(ref _lingeringTransports);

    public void TransportLingering() => Interlocked.Increment(ref _lingeringTransports);

    public void TransportClosed() => Interlocked.Decrement(ref _lingeringTransports);

    public void ConnectionEnded()
    {
        if (Interlocked.Decrement(ref _runningConnections) == 0)
        {
            Volatile.Read(ref _allEnded)?.TrySetResult();
        }
    }

    /// <summary>Completes when no connection runs (the last one to end completes it); for StopAsync.</summary>
    public Task WhenAllConnectionsEnded()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _allEnded, ended);
        // A connection that ended before the write above did not see it: check the count after publishing.
        if (RunningConnections == 0)
        {
            ended.TrySetResult();
        }
        return ended.Task;
    }
}
