namespace Starling.Broker;

/// <summary>
/// Broker-wide event counters, incremented with <see cref="Interlocked"/> from any thread. Plain fields rather than
/// properties so that callers can pass them by reference.
/// </summary>
public sealed class BrokerCounters
{
#pragma warning disable CA1051 // Public fields: Interlocked needs a ref to the field itself.
    public long ConnectionsAccepted;
    public long ConnectionsRefused;
    public long ProtocolErrors;
    public long MessagesReceived;
    public long MessagesDelivered;
    public long MessagesDroppedQueueFull;
    public long MessagesDroppedQoS0Backlog;
    public long MessagesDroppedTooLarge;
    public long MessagesExpired;
    public long BytesReceived;
    public long BytesSent;
    /// <summary>Connections closed because a packet other than PUBLISH would exceed the client's Maximum Packet Size.</summary>
    public long PacketsTooLargeForClient;
    // QoS 1/2 and retained PUBLISH refused because the store is full (Storage:MaxDatabaseSize), at the door or (the
    // store had no room for them) when their acknowledgement was due.
    public long MessagesRefusedStoreFull;
    // SUBSCRIBEs (per filter) of durable sessions and CONNECTs that would create a durable session, refused because
    // the store is full.
    public long RequestsRefusedStoreFull;
    // Times a publisher's read loop paused because the store writer's queue was past its limits.
    public long StorePublisherPauses;

    // Connections closed before CONNECT was decoded (MqttConnection): a first byte that is not CONNECT, a CONNECT
    // above MaxConnectPacketSize. Also counted in ProtocolErrors.
    public long FirstPacketNotConnect;
    public long ConnectTooLarge;

    // Drops by reason (issue 16, finding 20; DropReasons maps each DropReason to its field) and state limits (finding 3).
    public long MessagesDroppedNotAuthorized;
    public long MessagesDroppedNoGroupMember;
    public long MessagesDroppedOfflineQoS0Expired;
    public long MessagesDroppedSessionEnded;
    public long RetainedRefused;
    public long SessionsRefused;
    // New persistent sessions refused by Limits:MaxPersistentSessionsPerAddress / MaxPersistentSessionsPerUser.
    public long PersistentSessionsRefused;
    public long SubscriptionBytesRefused;
    public long PublishesRefusedQueueFull;
    // Packets whose user properties passed Limits:MaxUserPropertyBytes (connection closed; also in ProtocolErrors).
    public long UserPropertyBytesRefused;
#pragma warning restore CA1051
}
