namespace Starling.Protocol.Tests;

/// <summary>
/// Bytes allocated on this thread by <paramref name="action"/> run many times, taking the least of several rounds: the
/// runtime may allocate once in a while on the calling thread (tiered JIT call counting while other tests run in
/// parallel), but code that allocates per call allocates in every round.
/// </summary>
internal static class AllocationMeter
{
    public static long MinBytes(Action action, int iterations = 1_000, int rounds = 5)
    {
        for (var i = 0; i < 200; i++)
        {
            action();
        }
        var min = long.MaxValue;
        for (var r = 0; r < rounds && min != 0; r++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < iterations; i++)
            {
                action();
            }
            min = Math.Min(min, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return min;
    }
}
