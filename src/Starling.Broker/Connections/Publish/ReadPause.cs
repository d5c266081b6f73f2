namespace Starling.Broker;

/// <summary>
/// Why a read loop should stop after the packet it just handled, returned by value (no thread-static state): a
/// subscriber whose QoS 0 lane it found congested but moving, and/or a store writer queue past its limits
/// (<see cref="Storage.StoreLimits"/>) that the packet added to. <c>default</c>: keep reading.
/// </summary>
internal readonly struct ReadPause(ConnectionWriter? subscriber, bool store)
{
    /// <summary>Wait (at most 100 ms) until this subscriber's data lane drains; null for none.</summary>
    public ConnectionWriter? Subscriber { get; } = subscriber;

    /// <summary>Wait until the store writer's queue is below half its limits (or the connection closes).</summary>
    public bool Store { get; } = store;

    public bool IsNone => Subscriber is null && !Store;
}
