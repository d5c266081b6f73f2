namespace Starling.Protocol;

/// <summary>UNSUBSCRIBE (3.10).</summary>
public sealed class UnsubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Unsubscribe;
    public ushort PacketId { get; set; }
    public List<string> TopicFilters { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}
