namespace Starling.Broker;

/// <summary>
/// Outbound QoS 1/2 messages held by all sessions, as of <see cref="SampledAt"/>: <see cref="Queued"/> (waiting for
/// the inflight window, in memory or paged out to the store, plus an offline session's QoS 0 backlog) and
/// <see cref="Inflight"/> (sent, unacknowledged). Sampled by the broker's Heartbeat at most once per
/// <see cref="MqttBroker.QueueDepthInterval"/>, so reading it costs nothing that grows with the number of sessions
/// (/metrics, /api/stats, $SYS); it is at most that interval (plus one Heartbeat period) old.
/// </summary>
public sealed record QueueDepth(long Queued, long Inflight, DateTimeOffset SampledAt);
