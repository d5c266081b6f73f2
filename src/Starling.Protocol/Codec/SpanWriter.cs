using System.Buffers.Binary;
using System.Text;

namespace Starling.Protocol;

/// <summary>Sequential writer over a span sized in advance by the matching GetSize; used by the encoders.</summary>
internal ref struct SpanWriter
{
    private readonly Span<byte> _span;
    private int _position;

    public SpanWriter(Span<byte> span)
    {
        _span = span;
        _position = 0;
    }

    public readonly int Position => _position;

    public void WriteByte(byte value) => _span[_position++] = value;

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_span[_position..], value);
        _position += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_span[_position..], value);
        _position += 4;
    }

    public void WriteVariableByteInteger(int value) => _position += VariableByteInteger.Write(_span[_position..], value);

    /// <summary>Length-prefixed UTF-8 string; the caller sized it with <see cref="StringSize"/>, which validated it.</summary>
    public void WriteString(string value)
    {
        var written = Encoding.UTF8.GetBytes(value, _span[(_position + 2)..]);
        BinaryPrimitives.WriteUInt16BigEndian(_span[_position..], (ushort)written);
        _position += 2 + written;
    }

    /// <summary>Length-prefixed binary data.</summary>
    public void WriteBinary(ReadOnlySpan<byte> value)
    {
        WriteUInt16((ushort)value.Length);
        WriteBytes(value);
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_span[_position..]);
        _position += value.Length;
    }

    /// <summary>Encoded size of a UTF-8 string field, prefix included; throws for strings the standard cannot carry.</summary>
    public static int StringSize(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        return count <= ushort.MaxValue
            ? 2 + count
            : throw new ArgumentException($"string of {count} UTF-8 bytes exceeds the 65,535 byte limit of an MQTT string", nameof(value));
    }

    /// <summary>Encoded size of a binary data field, prefix included.</summary>
    public static int BinarySize(int length)
        => length <= ushort.MaxValue
            ? 2 + length
            : throw new ArgumentException($"binary data of {length} bytes exceeds the 65,535 byte limit", nameof(length));
}
