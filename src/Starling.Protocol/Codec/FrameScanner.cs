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
    /// header alone, before the body is buffered. With PacketTooLarge, <paramref name="header"/> is still set.
    /// </summary>
    public static OperationStatus TryReadHeader(in ReadOnlySequence<byte> buffer, int maxPacketSize, out FrameHeader header, out ReasonCode error)
    {
        header = default;
        error = ReasonCode.Success;
        if (buffer.IsEmpty)
        {
            return OperationStatus.NeedMoreData;
        }
        // The fixed header is at most 5 bytes; copy them out when they straddle segments (no allocation).
        ReadOnlySpan<byte> bytes = buffer.FirstSpan;
        if (bytes.Length < 5 && !buffer.IsSingleSegment)
        {
            Span<byte> copy = stackalloc byte[5];
            var n = (int)Math.Min(5, buffer.Length);
            buffer.Slice(0, n).CopyTo(copy);
            return Parse(copy[..n], maxPacketSize, out header, out error);
        }
        return Parse(bytes, maxPacketSize, out header, out error);
    }

    private static OperationStatus Parse(ReadOnlySpan<byte> bytes, int maxPacketSize, out FrameHeader header, out ReasonCode error)
    {
        header = default;
        error = ReasonCode.Success;
        var first = bytes[0];
        if (first >> 4 == 0)
        {
            error = ReasonCode.MalformedPacket; // packet type 0 is reserved/forbidden (2.1.2)
            return OperationStatus.InvalidData;
        }
        var status = VariableByteInteger.TryRead(bytes[1..], out var remaining, out var varintLength);
        if (status == OperationStatus.NeedMoreData)
        {
            return status;
        }
        if (status == OperationStatus.InvalidData)
        {
            error = ReasonCode.MalformedPacket; // a fifth length byte, or a non-minimal form (1.5.5)
            return status;
        }
        header = new FrameHeader(first, remaining, 1 + varintLength);
        if (header.TotalLength > maxPacketSize)
        {
            error = ReasonCode.PacketTooLarge;
            return OperationStatus.InvalidData;
        }
        return OperationStatus.Done;
    }
}
