using System.Buffers;
using System.Collections;
using System.Reflection;
using System.Text;

namespace Starling.Protocol.Tests;

/// <summary>A canonical text form of a packet (every public property, recursively) for structural comparison.</summary>
internal static class PacketDump
{
    public static string Describe(object? value)
    {
        var sb = new StringBuilder();
        Append(sb, value);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                return;
            case string s:
                sb.Append('"').Append(s).Append('"');
                return;
            case byte[] bytes:
                sb.Append("0x").Append(Convert.ToHexString(bytes));
                return;
            case ReadOnlySequence<byte> seq:
                sb.Append("0x").Append(Convert.ToHexString(seq.ToArray()));
                return;
            case Enum or bool or byte or ushort or uint or int or long:
                sb.Append(value);
                return;
            case UserProperty u:
                sb.Append('(').Append(u.Name).Append('=').Append(u.Value).Append(')');
                return;
            case SubscriptionOptions o:
                sb.Append(o.ToString());
                return;
            case IEnumerable list:
                sb.Append('[');
                foreach (var item in list)
                {
                    Append(sb, item);
                    sb.Append(',');
                }
                sb.Append(']');
                return;
        }
        var type = value.GetType();
        sb.Append(type.Name).Append('{');
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (p.GetIndexParameters().Length > 0 || p.Name == "EqualityContract")
            {
                continue;
            }
            sb.Append(p.Name).Append('=');
            Append(sb, p.GetValue(value));
            sb.Append(';');
        }
        sb.Append('}');
    }
}
