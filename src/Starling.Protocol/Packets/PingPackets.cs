namespace Starling.Protocol;

/// <summary>PINGREQ (3.12): no variable header, no payload; one shared instance.</summary>
public sealed class PingReqPacket : MqttPacket
{
    public static readonly PingReqPacket Instance = new();
    private PingReqPacket() { }
    public override PacketType Type => PacketType.PingReq;
}

/// <summary>PINGRESP (3.13): no variable header, no payload; one shared instance.</summary>
public sealed class PingRespPacket : MqttPacket
{
    public static readonly PingRespPacket Instance = new();
    private PingRespPacket() { }
    public override PacketType Type => PacketType.PingResp;
}
