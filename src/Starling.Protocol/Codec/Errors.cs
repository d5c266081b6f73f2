namespace Starling.Protocol;

/// <summary>Factories for the exceptions the decoder throws; <c>throw Errors.Malformed("...")</c> keeps call sites short.</summary>
internal static class Errors
{
    public static MqttProtocolException Malformed(string message) => new(ReasonCode.MalformedPacket, message);

    public static MqttProtocolException Protocol(string message) => new(ReasonCode.ProtocolError, message);

    public static MqttProtocolException Truncated() => new(ReasonCode.MalformedPacket, "packet truncated: a field runs past the end of the packet");
}
