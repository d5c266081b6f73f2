using System.Text;
using System.Text.Unicode;

namespace Starling.Protocol;

/// <summary>
/// UTF-8 Encoded String rules of MQTT 1.5.4 (3.1.1: 1.5.3): the bytes are well-formed UTF-8 (RFC 3629: no overlong
/// forms, nothing above U+10FFFF), carry no UTF-16 surrogate code point U+D800..U+DFFF [MQTT-1.5.3-1] (3.1.1) /
/// [MQTT-1.5.4-1] (5.0) and no U+0000 [MQTT-1.5.3-2] / [MQTT-1.5.4-2]. Control characters and non-characters are allowed
/// (the standard only says SHOULD NOT), and U+FEFF is kept as is [MQTT-1.5.3-3].
/// </summary>
public static class Utf8Validator
{
    /// <summary>True when <paramref name="utf8"/> is a valid MQTT UTF-8 string body (without its length prefix).</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8)
        // Utf8.IsValid accepts exactly the well-formed UTF-8 of the Unicode standard, which excludes encoded surrogates.
        => utf8.IndexOf((byte)0) < 0 && Utf8.IsValid(utf8);

    /// <summary>
    /// True when <paramref name="value"/> can be written as an MQTT UTF-8 string: no U+0000, no unpaired surrogate
    /// (it would not be encodable), and at most 65,535 bytes once encoded.
    /// </summary>
    public static bool IsValid(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return IsValid(value.AsSpan());
    }

    /// <summary>The UTF-16 form of <see cref="IsValid(string)"/>.</summary>
    public static bool IsValid(ReadOnlySpan<char> value)
    {
        if (value.Length > ushort.MaxValue)
        {
            return false; // every char takes at least one byte
        }
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0')
            {
                return false;
            }
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return false;
                }
                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return false;
            }
        }
        // Only strings with non-ASCII characters can exceed the limit while having <= 65535 chars.
        return value.Length <= ushort.MaxValue / 3 || Encoding.UTF8.GetByteCount(value) <= ushort.MaxValue;
    }
}
