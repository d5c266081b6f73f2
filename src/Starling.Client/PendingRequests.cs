using Starling.Protocol;

namespace Starling.Client;

/// <summary>
/// The requests of one connection that await an acknowledgement, keyed by packet id, and a small pool of finished
/// <see cref="PendingRequest"/>s to reuse. Thread-safe: publishers register and unregister, the read loop takes.
/// Invariant: once <see cref="TakeAllAndClose"/> ran, nothing registers any more, so no request is left waiting
/// after the connection ended (it was either failed by the close or refused at registration).
/// </summary>
internal sealed class PendingRequests
{
    private const int MaxPooledRequests = 256;

    private readonly Dictionary<ushort, PendingRequest> _pending = [];
    private readonly Stack<PendingRequest> _pool = new();
    private ushort _nextPacketId;
    private bool _closed;

    /// <summary>A request from the pool (or a new one) that expects <paramref name="expected"/>.</summary>
    public PendingRequest Rent(PacketType expected)
    {
        PendingRequest? request;
        lock (_pool)
        {
            _pool.TryPop(out request);
        }
        request ??= new PendingRequest();
        request.Expected = expected;
        return request;
    }

    /// <summary>Gives back a request whose flow completed normally (never a cancelled or failed one).</summary>
    public void Return(PendingRequest request)
    {
        request.Reset();
        lock (_pool)
        {
            if (_pool.Count < MaxPooledRequests)
            {
                _pool.Push(request);
            }
        }
    }

    /// <summary>
    /// Allocates a packet id not in use by any outstanding PUBLISH, SUBSCRIBE or UNSUBSCRIBE and registers
    /// <paramref name="request"/> under it. False when the connection was closed.
    /// </summary>
    /// <exception cref="MqttClientException">All 65535 packet ids are in use.</exception>
    public bool TryRegister(PendingRequest request, out ushort packetId)
    {
        lock (_pending)
        {
            packetId = 0;
            if (_closed)
            {
                return false;
            }
            if (_pending.Count >= ushort.MaxValue)
            {
                throw new MqttClientException("All 65535 packet identifiers are in use by unacknowledged requests.");
            }
            do
            {
                _nextPacketId = _nextPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextPacketId + 1);
            }
            while (_pending.ContainsKey(_nextPacketId));
            _pending.Add(_nextPacketId, request);
            packetId = _nextPacketId;
            return true;
        }
    }

    /// <summary>Removes <paramref name="request"/> from <paramref name="packetId"/> if it is still registered there.</summary>
    public void Unregister(ushort packetId, PendingRequest request)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(packetId, out var current) && ReferenceEquals(current, request))
            {
                _pending.Remove(packetId);
            }
        }
    }

    /// <summary>Removes and returns the request waiting for <paramref name="type"/> with this packet id, if any.</summary>
    public PendingRequest? Take(ushort packetId, PacketType type)
    {
        lock (_pending)
        {
            if (_pending.TryGetValue(packetId, out var request) && request.Expected == type)
            {
                _pending.Remove(packetId);
                return request;
            }
            return null;
        }
    }

    /// <summary>True when a request waiting for <paramref name="type"/> is registered under this packet id.</summary>
    public bool IsWaiting(ushort packetId, PacketType type)
    {
        lock (_pending)
        {
            return _pending.TryGetValue(packetId, out var request) && request.Expected == type;
        }
    }

    /// <summary>Refuses registrations from now on and returns every outstanding request, for the caller to fail.</summary>
    public List<PendingRequest> TakeAllAndClose()
    {
        lock (_pending)
        {
            _closed = true;
            List<PendingRequest> all = [.. _pending.Values];
            _pending.Clear();
            return all;
        }
    }
}
