using System.Globalization;
using System.Text;

namespace Starling.Broker.Security;

/// <summary>
/// Makes a client-supplied string (client id, username, topic, reason string, authentication method) safe for a text
/// log line: control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides are
/// escaped (<c>\n</c>, <c>\x1b</c>, <c>\u202e</c>; a backslash becomes <c>\\</c>, so an escape cannot be forged), and
/// the result is cut at a maximum length with the original length noted. A clean, short value is returned as is,
/// without allocating. The one helper every log call with such a value goes through.
/// </summary>
public static class LogText
{
    /// <summary>Longest value kept, in characters, unless a caller says otherwise.</summary>
    public const int DefaultMaxLength = 256;

    /// <summary>The escaped, truncated form of <paramref name="value"/> ("(none)" for null).</summary>
    public static string Escape(string? value, int maxLength = DefaultMaxLength)
    {
        if (value is null)
        {
            return "(none)";
        }
        if (value.Length <= maxLength && !NeedsEscaping(value))
        {
            return value;
        }
        var builder = new StringBuilder(Math.Min(value.Length, maxLength) + 24);
        var i = 0;
        for (; i < value.Length && builder.Length < maxLength; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                default:
                    if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
                    {
                        builder.Append(@"\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    }
                    else if (IsInvisibleControl(c))
                    {
                        builder.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }
                    break;
            }
        }
        if (i < value.Length)
        {
            builder.Append(CultureInfo.InvariantCulture, $"...({value.Length} chars)");
        }
        return builder.ToString();
    }

    private static bool NeedsEscaping(string value)
    {
        foreach (var c in value)
        {
            if (c < 0x20 || c == '\\' || (c >= 0x7F && c <= 0x9F) || IsInvisibleControl(c))
            {
                return true;
            }
        }
        return false;
    }

    // Line/paragraph separators and bidirectional embeddings, overrides and isolates: they reorder or break a line.
    private static bool IsInvisibleControl(char c) => c is '\u2028' or '\u2029' or (>= '\u202A' and <= '\u202E') or (>= '\u2066' and <= '\u2069');
}
