using Starling.Broker.Storage;

namespace Starling.Broker;

/// <summary>
/// The broker-wide objects every <see cref="Session"/> and its <see cref="OutboundFlow"/> use: limits, counters, clock
/// and store. One instance per broker, shared by all sessions, so that each session holds one reference instead of
/// four per object (an idle session should cost little: docs/performance.md, memory per connection). Immutable.
/// </summary>
internal sealed class SessionServices(BrokerOptions options, BrokerCounters counters, TimeProvider time, BrokerStorage storage, LimitLog? limits = null)
{
    /// <summary>The broker's limits (queue sizes, inflight window, QoS 0 queueing).</summary>
    public BrokerOptions Options { get; } = options;

    /// <summary>The broker's counters (drops, expiries).</summary>
    public BrokerCounters Counters { get; } = counters;

    /// <summary>The broker's clock (expiry, will delay).</summary>
    public TimeProvider Time { get; } = time;

    /// <summary>The broker's store front (journals of durable sessions are created from it).</summary>
    public BrokerStorage Storage { get; } = storage;

    /// <summary>The rate-limited log line of the state limits (queue full); null in unit tests that do not look at it.</summary>
    public LimitLog? Limits { get; } = limits;
}
