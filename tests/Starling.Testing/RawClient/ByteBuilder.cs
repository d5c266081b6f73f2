using System.Text;

namespace Starling.Testing;

/// <summary>
/// Hand-written MQTT byte writer. It never validates: tests use it to send exactly the bytes they mean,
/// well-formed or not.
/// </summary>
public sealed class ByteBuilder
{
    private readonly List<byte> _bytes = [];

    public int Length => _bytes.Count;

    public ByteBuilder U8(int value)
    {
        _bytes.Add((byte)value);
        return this;
    }

    public ByteBuilder U16(int value)
    {
        _bytes.Add((byte)(value >> 8));
        _bytes.Add((byte)value);
        return this;
    }

    /// <summary>A UTF-8 string with its two-byte length prefix.</summary>
    public ByteBuilder Str(string value) => Prefixed(Encoding.UTF8.GetBytes(value));

    /// <summary>Any bytes with a two-byte length prefix (how invalid UTF-8 strings are sent).</summary>
    public ByteBuilder Prefixed(ReadOnlySpan<byte> value)
    {
        U16(value.Length);
        return Raw(value);
    }

    public ByteBuilder Raw(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            _bytes.Add(b);
        }

        return this;
    }

    public byte[] ToArray() => [.. _bytes];

    /// <summary>The remaining-length encoding of MQTT (1 to 4 bytes, 7 bits each, low group first).</summary>
    public static byte[] VarInt(int value)
    {
        var result = new List<byte>(4);
        do
        {
            var digit = (byte)(value % 128);
            value /= 128;
            if (value > 0)
            {
                digit |= 0x80;
            }

            result.Add(digit);
        }
        while (value > 0);
        return [.. result];
    }

    /// <summary>Fixed header byte, correct remaining length, then the body.</summary>
    public static byte[] Frame(byte header, ReadOnlySpan<byte> body)
    {
        var length = VarInt(body.Length);
        var frame = new byte[1 + length.Length + body.Length];
        frame[0] = header;
        length.CopyTo(frame, 1);
        body.CopyTo(frame.AsSpan(1 + length.Length));
        return frame;
    }

    public static byte[] Concat(params byte[][] parts)
    {
        var total = 0;
        foreach (var p in parts)
        {
            total += p.Length;
        }

        var result = new byte[total];
        var offset = 0;
        foreach (var p in parts)
        {
            p.CopyTo(result, offset);
            offset += p.Length;
        }

        return result;
    }
}
