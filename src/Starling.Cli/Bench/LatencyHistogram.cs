namespace Starling.Cli.Bench;

/// <summary>
/// Log-linear histogram of non-negative values (microseconds here): exact below 32, then 32 buckets per power of two,
/// so a percentile is within about 3 % of the truth. Single writer; <see cref="Merge"/> combines per-connection ones.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 5;
    private const int SubCount = 1 << SubBits;
    private readonly long[] _counts = new long[(64 - SubBits + 1) * SubCount];

    public long Count { get; private set; }
    public long Min { get; private set; } = long.MaxValue;
    public long Max { get; private set; }
    private double _sum;

    public double Mean => Count == 0 ? 0 : _sum / Count;

    public void Record(long value)
    {
        if (value < 0)
        {
            value = 0;
        }
        _counts[IndexOf(value)]++;
        Count++;
        _sum += value;
        if (value < Min)
        {
            Min = value;
        }
        if (value > Max)
        {
            Max = value;
        }
    }

    public void Merge(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Count == 0)
        {
            return;
        }
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }
        Count += other.Count;
        _sum += other._sum;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1): the middle of its bucket, clamped to [Min, Max].</summary>
    public long Percentile(double q)
    {
        if (Count == 0)
        {
            return 0;
        }
        var rank = (long)Math.Ceiling(q * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Clamp(MidpointOf(i), Min, Max);
            }
        }
        return Max;
    }

    private static int IndexOf(long value)
    {
        if (value < SubCount)
        {
            return (int)value;
        }
        var exponent = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)value);
        var shift = exponent - SubBits;
        return ((shift + 1) << SubBits) + (int)((value >> shift) & (SubCount - 1));
    }

    private static long MidpointOf(int index)
    {
        if (index < SubCount)
        {
            return index;
        }
        var shift = (index >> SubBits) - 1;
        var lower = (long)(SubCount + (index & (SubCount - 1))) << shift;
        return lower + ((1L << shift) >> 1);
    }
}
