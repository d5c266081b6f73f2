using System.Buffers;

namespace Starling.Protocol;

/// <summary>Encodes packets for a connection of a given protocol version.</summary>
public static class PacketEncoder
{
    /// <summary>Total encoded size in bytes (fixed header included), to check against a Maximum Packet Size.</summary>
    public static int GetSize(MqttPacket packet, ProtocolVersion version) => throw new NotImplementedException();

    /// <summary>Writes the whole packet. Properties are omitted for versions below 5.</summary>
    public static void Write(IBufferWriter<byte> output, MqttPacket packet, ProtocolVersion version)
        => throw new NotImplementedException();
}
