namespace Starling.Protocol;

/// <summary>The fixed header of one frame, as found by <see cref="FrameScanner"/>.</summary>
/// <param name="FirstByte">Packet type (high nibble) and flags (low nibble).</param>
/// <param name="RemainingLength">Length of the variable header plus payload.</param>
/// <param name="HeaderLength">Length of the fixed header: 1 + the varint's 1 to 4 bytes.</param>
public readonly record struct FrameHeader(byte FirstByte, int RemainingLength, int HeaderLength)
{
    public PacketType Type => (PacketType)(FirstByte >> 4);
    public byte Flags => (byte)(FirstByte & 0x0F);
    /// <summary>Whole frame length: fixed header plus remaining length.</summary>
    public int TotalLength => HeaderLength + RemainingLength;
}
