namespace Starling.Protocol;

/// <summary>The Variable Byte Integer of 1.5.5 (3.1.1: remaining length, 2.2.3): 7 bits per byte, 1 to 4 bytes.</summary>
public static class VariableByteInteger
{
    /// <summary>Largest value four bytes can carry.</summary>
    public const int MaxValue = 268_435_455;

    /// <summary>Encoded size (1 to 4) of <paramref name="value"/>, which must be in 0..<see cref="MaxValue"/>.</summary>
    public static int GetSize(int value) => value switch
    {
        < 0 => throw new ArgumentOutOfRangeException(nameof(value), value, "negative"),
        < 128 => 1,
        < 16_384 => 2,
        < 2_097_152 => 3,
        <= MaxValue => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "above the Variable Byte Integer maximum"),
    };

    /// <summary>Writes the minimal encoding of <paramref name="value"/>; returns the number of bytes written.</summary>
    public static int Write(Span<byte> destination, int value)
    {
        var size = GetSize(value);
        var v = (uint)value;
        for (var i = 0; i < size - 1; i++)
        {
            destination[i] = (byte)((v & 0x7F) | 0x80);
            v >>= 7;
        }
        destination[size - 1] = (byte)v;
        return size;
    }

    /// <summary>
    /// Decodes a Variable Byte Integer from the start of <paramref name="source"/>. Returns Done, NeedMoreData (the
    /// span ends inside the integer) or InvalidData (a fifth byte, or a non-minimal form such as 0x80 0x00).
    /// </summary>
    public static System.Buffers.OperationStatus TryRead(ReadOnlySpan<byte> source, out int value, out int bytesRead)
    {
        var result = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i >= source.Length)
            {
                value = 0;
                bytesRead = 0;
                return System.Buffers.OperationStatus.NeedMoreData;
            }
            var b = source[i];
            result |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    break; // non-minimal: the last byte of a multi-byte form carries no bits
                }
                value = result;
                bytesRead = i + 1;
                return System.Buffers.OperationStatus.Done;
            }
        }
        value = 0;
        bytesRead = 0;
        return System.Buffers.OperationStatus.InvalidData;
    }
}
