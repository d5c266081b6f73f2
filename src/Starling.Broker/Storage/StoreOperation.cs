using Starling.Protocol;

namespace Starling.Broker.Storage;

/// <summary>What a <see cref="StoreOperation"/> does.</summary>
public enum StoreOperationKind : byte
{
    /// <summary>Create the session or change its expiry / disconnect time (its will is kept).</summary>
    UpsertSession,
    /// <summary>Delete the session with its subscriptions, deliveries, inbound QoS 2 ids and will.</summary>
    DeleteSession,
    SetWill,
    ClearWill,
    /// <summary>Add or replace the subscription of the session to the filter.</summary>
    AddSubscription,
    RemoveSubscription,
    /// <summary>Add a delivery (and its message, unless already stored).</summary>
    AddDelivery,
    /// <summary>Change the packet id and state of a delivery.</summary>
    UpdateDelivery,
    RemoveDelivery,
    AddInboundQoS2,
    RemoveInboundQoS2,
    /// <summary>Set the retained message of the message's topic (and store the message unless already stored).</summary>
    SetRetained,
    RemoveRetained,
}

/// <summary>
/// One change to the store. A struct: the broker queues them for its writer without an allocation per operation.
/// Which fields are used depends on <see cref="Kind"/>; build them with the factory methods.
/// </summary>
public readonly struct StoreOperation
{
    private StoreOperation(StoreOperationKind kind, string clientId)
    {
        Kind = kind;
        ClientId = clientId;
    }

    public StoreOperationKind Kind { get; }
    /// <summary>The session's client id; the topic for retained operations.</summary>
    public string ClientId { get; }
    public long Sequence { get; private init; }
    public ushort PacketId { get; private init; }
    public StoredDeliveryState State { get; private init; }
    public StoredMessage? Message { get; private init; }
    public QualityOfService QoS { get; private init; }
    public bool Retain { get; private init; }
    public uint[]? SubscriptionIds { get; private init; }
    public StoredSession? Session { get; private init; }
    public StoredSubscription? Subscription { get; private init; }
    public StoredWill? Will { get; private init; }
    /// <summary>RemoveSubscription: the filter.</summary>
    public string? Filter { get; private init; }

    /// <summary>The topic of a retained operation.</summary>
    public string Topic => ClientId;

    public static StoreOperation UpsertSession(StoredSession session) => new(StoreOperationKind.UpsertSession, session.ClientId) { Session = session };

    public static StoreOperation DeleteSession(string clientId) => new(StoreOperationKind.DeleteSession, clientId);

    public static StoreOperation SetWill(string clientId, StoredWill will) => new(StoreOperationKind.SetWill, clientId) { Will = will };

    public static StoreOperation ClearWill(string clientId) => new(StoreOperationKind.ClearWill, clientId);

    public static StoreOperation AddSubscription(StoredSubscription subscription)
        => new(StoreOperationKind.AddSubscription, subscription.ClientId) { Subscription = subscription };

    public static StoreOperation RemoveSubscription(string clientId, string filter) => new(StoreOperationKind.RemoveSubscription, clientId) { Filter = filter };

    public static StoreOperation AddDelivery(in StoredDelivery d) => new(StoreOperationKind.AddDelivery, d.ClientId)
    {
        Sequence = d.Sequence,
        Message = d.Message,
        QoS = d.QoS,
        Retain = d.Retain,
        SubscriptionIds = d.SubscriptionIds,
        PacketId = d.PacketId,
        State = d.State,
    };

    public static StoreOperation UpdateDelivery(string clientId, long sequence, ushort packetId, StoredDeliveryState state)
        => new(StoreOperationKind.UpdateDelivery, clientId) { Sequence = sequence, PacketId = packetId, State = state };

    public static StoreOperation RemoveDelivery(string clientId, long sequence) => new(StoreOperationKind.RemoveDelivery, clientId) { Sequence = sequence };

    public static StoreOperation AddInboundQoS2(string clientId, ushort packetId) => new(StoreOperationKind.AddInboundQoS2, clientId) { PacketId = packetId };

    public static StoreOperation RemoveInboundQoS2(string clientId, ushort packetId) => new(StoreOperationKind.RemoveInboundQoS2, clientId) { PacketId = packetId };

    public static StoreOperation SetRetained(StoredMessage message) => new(StoreOperationKind.SetRetained, message.Topic) { Message = message };

    public static StoreOperation RemoveRetained(string topic) => new(StoreOperationKind.RemoveRetained, topic);

    public override string ToString() => $"{Kind} {ClientId}{(Sequence != 0 ? " #" + Sequence : "")}";
}
