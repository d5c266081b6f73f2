using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// A point-in-time view of one session (and its connection, if any), for the management API and dashboard.
/// <see cref="Dropped"/>: the messages dropped for this session by reason label (only reasons with a count).
/// </summary>
public sealed record SessionSnapshot(
    string ClientId,
    bool Connected,
    string? RemoteAddress,
    string? Listener,
    ProtocolVersion ProtocolVersion,
    string? Username,
    ushort KeepAliveSeconds,
    uint SessionExpiryInterval,
    DateTimeOffset? ConnectedAt,
    int SubscriptionCount,
    int InflightCount,
    int QueuedCount,
    IReadOnlyDictionary<string, long>? Dropped = null);

/// <summary>One subscription of a session, as shown by the management API.</summary>
public sealed record SubscriptionSnapshot(string TopicFilter, QualityOfService QoS, bool NoLocal, bool RetainAsPublished,
    RetainHandling RetainHandling, uint SubscriptionIdentifier, string? ShareName);

/// <summary>A retained message, as shown by the management API (payload shared, do not modify).</summary>
public sealed record RetainedMessageSnapshot(string Topic, ReadOnlyMemory<byte> Payload, QualityOfService QoS, DateTimeOffset ReceivedAt);

/// <summary>Broker-wide figures for $SYS, metrics and the dashboard.</summary>
public sealed record BrokerStats(
    DateTimeOffset StartedAt,
    int ConnectedClients,
    int Sessions,
    int Subscriptions,
    int RetainedMessages,
    long ConnectionsAccepted,
    long ConnectionsRefused,
    long MessagesReceived,
    long MessagesDelivered,
    long MessagesDropped,
    long BytesReceived,
    long BytesSent);
