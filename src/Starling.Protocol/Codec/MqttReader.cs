using System.Buffers;
using System.Text;

namespace Starling.Protocol;

/// <summary>
/// Field readers over a <see cref="SequenceReader{T}"/> (the body may span several segments). Every read checks the
/// bytes left and throws <see cref="MqttProtocolException"/> (MalformedPacket) on truncation, never anything else.
/// </summary>
internal static class MqttReader
{
    private const int StackCopyLimit = 256;

    public static byte ReadByte(ref SequenceReader<byte> reader)
        => reader.TryRead(out var b) ? b : throw Errors.Truncated();

    /// <summary>Two Byte Integer, big-endian (1.5.2).</summary>
    public static ushort ReadUInt16(ref SequenceReader<byte> reader)
        => reader.TryReadBigEndian(out short v) ? (ushort)v : throw Errors.Truncated();

    /// <summary>Four Byte Integer, big-endian (1.5.3).</summary>
    public static uint ReadUInt32(ref SequenceReader<byte> reader)
        => reader.TryReadBigEndian(out int v) ? (uint)v : throw Errors.Truncated();

    /// <summary>Variable Byte Integer (1.5.5): at most 4 bytes, minimal form.</summary>
    public static int ReadVariableByteInteger(ref SequenceReader<byte> reader)
    {
        var result = 0;
        for (var i = 0; i < 4; i++)
        {
            var b = ReadByte(ref reader);
            result |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    throw Errors.Malformed("variable byte integer is not minimally encoded");
                }
                return result;
            }
        }
        throw Errors.Malformed("variable byte integer longer than 4 bytes");
    }

    /// <summary>A non-zero packet identifier [MQTT-2.3.1-1] (5.0: [MQTT-2.2.1-3]); 0 is a ProtocolError.</summary>
    public static ushort ReadPacketId(ref SequenceReader<byte> reader)
    {
        var id = ReadUInt16(ref reader);
        return id != 0 ? id : throw Errors.Protocol("packet identifier 0 [MQTT-2.3.1-1]");
    }

    /// <summary>UTF-8 Encoded String (1.5.3/1.5.4): validated per <see cref="Utf8Validator"/>, decoded to a string.</summary>
    public static string ReadString(ref SequenceReader<byte> reader)
    {
        int length = ReadUInt16(ref reader);
        if (length == 0)
        {
            return "";
        }
        if (reader.Remaining < length)
        {
            throw Errors.Truncated();
        }
        var unread = reader.UnreadSpan;
        if (unread.Length >= length)
        {
            var s = DecodeUtf8(unread[..length]);
            reader.Advance(length);
            return s;
        }
        byte[]? rented = null;
        var buffer = length <= StackCopyLimit ? stackalloc byte[StackCopyLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var bytes = buffer[..length];
            reader.TryCopyTo(bytes);
            reader.Advance(length);
            return DecodeUtf8(bytes);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Binary Data (1.5.6): two-byte length then the bytes, copied into an owned array.</summary>
    public static byte[] ReadBinary(ref SequenceReader<byte> reader)
    {
        int length = ReadUInt16(ref reader);
        if (length == 0)
        {
            return [];
        }
        if (reader.Remaining < length)
        {
            throw Errors.Truncated();
        }
        var bytes = new byte[length];
        reader.TryCopyTo(bytes);
        reader.Advance(length);
        return bytes;
    }

    /// <summary>Trailing bytes after a complete packet body are malformed.</summary>
    public static void EnsureEnd(ref SequenceReader<byte> reader, PacketType type)
    {
        if (!reader.End)
        {
            throw Errors.Malformed($"{type}: {reader.Remaining} unexpected byte(s) after the end of the packet");
        }
    }

    internal static string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        if (!Utf8Validator.IsValid(bytes))
        {
            throw Errors.Malformed("invalid UTF-8 string: ill-formed, surrogate or U+0000 [MQTT-1.5.3-1], [MQTT-1.5.3-2]");
        }
        return Encoding.UTF8.GetString(bytes);
    }
}
