using System.Buffers;

namespace Starling.Protocol;

/// <summary>User properties of <see cref="PropertiesCodec"/>: decoded against a byte budget per property block.</summary>
internal static partial class PropertiesCodec
{
    /// <summary>
    /// A user property (name, value), counted against the block's byte budget before each string is decoded: a peer
    /// cannot make the broker materialise megabytes of strings with a 1-byte payload (issue 16, finding 9).
    /// </summary>
    private static void ReadUserProperty(ref SequenceReader<byte> r, MqttProperties p, ref long used, int max)
    {
        used += 1; // the identifier
        var name = ReadBudgetedString(ref r, ref used, max);
        var value = ReadBudgetedString(ref r, ref used, max);
        (p.UserProperties ??= []).Add(new UserProperty(name, value));
    }

    private static string ReadBudgetedString(ref SequenceReader<byte> r, ref long used, int max)
    {
        if (r.Remaining >= 2)
        {
            r.TryReadBigEndian(out short length);
            r.Rewind(2);
            used += 2 + (ushort)length;
            if (used > max)
            {
                throw new MqttProtocolException(ReasonCode.QuotaExceeded, $"user properties larger than {max} bytes in one packet")
                {
                    UserPropertyBytesExceeded = true,
                };
            }
        }
        return MqttReader.ReadString(ref r);
    }
}
