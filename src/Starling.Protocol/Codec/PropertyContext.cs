namespace Starling.Protocol;

/// <summary>
/// Where a property may appear (table 2-4 of MQTT 5.0, 2.2.2.2): one bit per packet type (bit n = packet type n), with
/// bit 0, unused by packet types, standing for the Will Properties of CONNECT.
/// </summary>
[Flags]
internal enum PropertyContext : ushort
{
    None = 0,
    Will = 1 << 0,
    Connect = 1 << (int)PacketType.Connect,
    ConnAck = 1 << (int)PacketType.ConnAck,
    Publish = 1 << (int)PacketType.Publish,
    PubAck = 1 << (int)PacketType.PubAck,
    PubRec = 1 << (int)PacketType.PubRec,
    PubRel = 1 << (int)PacketType.PubRel,
    PubComp = 1 << (int)PacketType.PubComp,
    Subscribe = 1 << (int)PacketType.Subscribe,
    SubAck = 1 << (int)PacketType.SubAck,
    Unsubscribe = 1 << (int)PacketType.Unsubscribe,
    UnsubAck = 1 << (int)PacketType.UnsubAck,
    Disconnect = 1 << (int)PacketType.Disconnect,
    Auth = 1 << (int)PacketType.Auth,
}

internal static class PropertyContexts
{
    public static PropertyContext Of(PacketType type) => (PropertyContext)(1 << (int)type);
}
