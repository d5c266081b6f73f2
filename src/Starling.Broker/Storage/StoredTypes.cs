using Starling.Protocol;

namespace Starling.Broker.Storage;

/// <summary>Where a stored outbound QoS 1/2 delivery stands (same values as the broker's in-memory state).</summary>
public enum StoredDeliveryState : byte
{
    /// <summary>Waiting in the session queue; no packet id yet.</summary>
    Queued = 0,
    /// <summary>QoS 1 PUBLISH sent, awaiting PUBACK.</summary>
    AwaitingPubAck = 1,
    /// <summary>QoS 2 PUBLISH sent, awaiting PUBREC.</summary>
    AwaitingPubRec = 2,
    /// <summary>PUBREL sent, awaiting PUBCOMP.</summary>
    AwaitingPubComp = 3,
}

/// <summary>One application message as stored: written once, referenced by any number of deliveries and retained topics.</summary>
public sealed class StoredMessage
{
    /// <summary>Broker-assigned id, unique in the store (above <see cref="StoreContents.MaxMessageId"/> of the last load).</summary>
    public required long Id { get; init; }
    public required string Topic { get; init; }
    public required byte[] Payload { get; init; }
    public QualityOfService QoS { get; init; }
    public bool Retain { get; init; }
    /// <summary>The forwarded v5 properties, encoded by <see cref="StoredProperties"/>; null when none.</summary>
    public byte[]? Properties { get; init; }
    public string? PublisherClientId { get; init; }
    /// <summary>When the broker received it, Unix milliseconds.</summary>
    public long CreatedAtMs { get; init; }
    /// <summary>When its Message Expiry Interval ends, Unix milliseconds; null when it has none.</summary>
    public long? ExpiresAtMs { get; init; }

    /// <summary>
    /// What the byte limits count for it (Message.AccountedSize: topic + payload + properties), kept by the store so a
    /// restored queue counts the same bytes it counted before the restart; the payload length when not given.
    /// </summary>
    public long AccountedSize
    {
        get => _accountedSize > 0 ? _accountedSize : Payload.Length;
        init => _accountedSize = value;
    }

    private readonly long _accountedSize;
}

/// <summary>One subscription of a persistent session; the filter is as the client sent it ($share/... included).</summary>
public sealed record StoredSubscription(string ClientId, string Filter, QualityOfService QoS, bool NoLocal, bool RetainAsPublished,
    RetainHandling RetainHandling, uint SubscriptionId);

/// <summary>A will held back by its Will Delay Interval, due at <paramref name="DueAtMs"/> (Unix milliseconds).</summary>
public sealed record StoredWill(string Topic, byte[] Payload, QualityOfService QoS, bool Retain, byte[]? Properties, long DueAtMs);

/// <summary>
/// A persistent session. <paramref name="DisconnectedAtMs"/> is null while a connection is attached (after a crash the
/// broker counts the expiry from its restart).
/// </summary>
public sealed record StoredSession(string ClientId, uint ExpiryInterval, long? DisconnectedAtMs, StoredWill? Will = null)
{
    /// <summary>The identity that owns the session (docs/security.md, "Session ownership"); null in stores written before it existed.</summary>
    public string? Owner { get; init; }
}

/// <summary>One message on its way to one session (key: client id + sequence).</summary>
public readonly record struct StoredDelivery(string ClientId, long Sequence, StoredMessage Message, QualityOfService QoS, bool Retain,
    uint[]? SubscriptionIds, ushort PacketId, StoredDeliveryState State);

/// <summary>The queued (not yet sent) deliveries of one session, summarized; <paramref name="LastSequence"/> covers every delivery.</summary>
public readonly record struct StoredQueueSummary(string ClientId, long Count, long Bytes, long LastSequence);

/// <summary>An inbound QoS 2 packet id whose PUBLISH was received and whose PUBREL was not.</summary>
public readonly record struct StoredInboundQoS2(string ClientId, ushort PacketId);

/// <summary>What <see cref="IStore.Load"/> returns.</summary>
public sealed class StoreContents
{
    public List<StoredSession> Sessions { get; } = [];
    public List<StoredSubscription> Subscriptions { get; } = [];
    /// <summary>Deliveries in a state other than <see cref="StoredDeliveryState.Queued"/>, in sequence order per session.</summary>
    public List<StoredDelivery> Inflight { get; } = [];
    /// <summary>Per session that has queued deliveries: their number, payload bytes and the highest sequence of any delivery.</summary>
    public List<StoredQueueSummary> Queues { get; } = [];
    public List<StoredInboundQoS2> InboundQoS2 { get; } = [];
    /// <summary>Retained messages (the topic is the message's).</summary>
    public List<StoredMessage> Retained { get; } = [];
    /// <summary>The highest message id in the store (0 when empty); new ids must be above it.</summary>
    public long MaxMessageId { get; set; }
}
