using System.Buffers;

namespace Starling.Protocol;

/// <summary>Finds frame boundaries in a receive buffer without buffering bodies.</summary>
public static class FrameScanner
{
    /// <summary>Largest remaining length the 4-byte varint can express (2.2.3).</summary>
    public const int MaxRemainingLength = 268_435_455;

    /// <summary>
    /// Reads the fixed header at the start of <paramref name="buffer"/>.
    /// Done: <paramref name="header"/> is set and the whole frame may or may not be buffered yet (compare
    /// <see cref="FrameHeader.TotalLength"/> with the buffer length). NeedMoreData: the fixed header itself is incomplete.
    /// InvalidData: <paramref name="error"/> is MalformedPacket (varint longer than 4 bytes or not minimally encoded,
    /// packet type 0) or PacketTooLarge (total length above <paramref name="maxPacketSize"/>): decided from the fixed
    /// header alone, before the body is buffered.
    /// </summary>
    public static OperationStatus TryReadHeader(in ReadOnlySequence<byte> buffer, int maxPacketSize, out FrameHeader header, out ReasonCode error)
        => throw new NotImplementedException();
}
