namespace Starling.Protocol;

/// <summary>
/// Thrown by the decoder for a malformed packet or a protocol error. It is only ever thrown on the error path, which
/// closes the connection, so its cost never lands on well-formed traffic.
/// </summary>
public sealed class MqttProtocolException : Exception
{
    public MqttProtocolException() : this(ReasonCode.MalformedPacket, "malformed packet") { }

    public MqttProtocolException(string message) : this(ReasonCode.MalformedPacket, message) { }

    public MqttProtocolException(string message, Exception inner) : base(message, inner) => ReasonCode = ReasonCode.MalformedPacket;

    public MqttProtocolException(ReasonCode reasonCode, string message) : base(message) => ReasonCode = reasonCode;

    /// <summary>0x81 malformed packet, 0x82 protocol error, 0x95 packet too large, and so on.</summary>
    public ReasonCode ReasonCode { get; }

    /// <summary>
    /// True when the decoder stopped because a property block's user properties passed the receiver's byte limit
    /// (PacketDecoder's maxUserPropertyBytes), so the receiver can count that limit apart from other errors.
    /// </summary>
    public bool UserPropertyBytesExceeded { get; init; }
}
