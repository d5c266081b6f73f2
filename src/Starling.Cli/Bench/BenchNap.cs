using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Starling.Cli.Bench;

/// <summary>
/// <c>--batch-us N</c>: after a busy read, the thread that handled it (with inline socket completions: the socket
/// engine's thread, which serves every connection of its share) sleeps N µs, at most once per N µs of work, so that
/// deliveries and acks pile up in the socket buffers and the next reads and sends carry many messages each. It trades
/// a little latency for much less generator CPU, which the broker needs on a small machine; the independent harness
/// (../shared/perf, mqload) does the same with the same flag. Not for latency runs.
/// </summary>
internal static partial class BenchNap
{
    [ThreadStatic]
    private static long t_lastNapEnd;

    /// <summary>Sleeps <paramref name="micros"/> µs unless this thread slept less than that long ago.</summary>
    public static void AfterBusyRead(int micros)
    {
        if (micros <= 0 || !OperatingSystem.IsLinux())
        {
            return;
        }
        var now = Stopwatch.GetTimestamp();
        if (now - t_lastNapEnd < micros * Stopwatch.Frequency / 1_000_000)
        {
            return;
        }
        _ = Usleep((uint)micros); // Thread.Sleep has millisecond resolution: 1 ms would be 5x the asked pause
        t_lastNapEnd = Stopwatch.GetTimestamp();
    }

    [LibraryImport("libc", EntryPoint = "usleep")]
    private static partial int Usleep(uint microseconds);
}
