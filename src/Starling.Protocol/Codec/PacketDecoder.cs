using System.Buffers;

namespace Starling.Protocol;

/// <summary>Decodes one complete frame into a packet; throws <see cref="MqttProtocolException"/> on bad input.</summary>
public static class PacketDecoder
{
    /// <summary>
    /// Decodes the frame whose fixed header is <paramref name="header"/> and whose variable header and payload are
    /// <paramref name="body"/> (exactly RemainingLength bytes). <paramref name="version"/> is the connection's
    /// negotiated version; <see cref="ProtocolVersion.Unknown"/> before CONNECT (CONNECT carries its own version).
    /// Validates everything the standard makes the receiver check on its own: reserved flags, QoS 3, packet id 0,
    /// UTF-8 well-formedness and U+0000, topic name/filter syntax, property identifiers allowed for the packet and
    /// duplicates. Packets a client may not send (CONNACK, SUBACK, ...) still decode, so the broker decides.
    /// </summary>
    public static MqttPacket Decode(in FrameHeader header, in ReadOnlySequence<byte> body, ProtocolVersion version)
        => throw new NotImplementedException();
}
