using System.Diagnostics;
using System.Globalization;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>
/// The three modes of <c>starling bench</c> on open connections: pub (publish, at full speed or a fixed rate), sub
/// (count what arrives) and conn (hold the connections for the window). Each fills its part of the <see cref="BenchResult"/>.
/// </summary>
internal static class BenchModes
{
    internal static async Task RunPubAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
    {
        var s = run.Settings;
        var start = Stopwatch.GetTimestamp();
        run.Producing = true;
        var fixedRate = Task.FromResult(0L);
        if (s.MaxRate)
        {
            foreach (var c in connections)
            {
                if (s.QoS == QualityOfService.AtMostOnce)
                {
                    c.Wake();
                }
                else
                {
                    c.Publish(c.InflightCap);
                }
            }
        }
        else
        {
            fixedRate = FixedRateLoopAsync(run, connections, start, cancellationToken);
        }

        var window = new BenchWindow(run, connections, progress, start).Open();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            var finished = s.Limit > 0 && connections.All(c => c.IsDone || c.IsLost);
            if (window.Tick(finished))
            {
                break;
            }
        }
        window.Finish(result);
        run.Producing = false;
        result.Skipped = await fixedRate.ConfigureAwait(false);
        if (s.QoS != QualityOfService.AtMostOnce)
        {
            // Let the outstanding flows finish (bounded) so the totals add up.
            var drainUntil = Stopwatch.GetTimestamp() + 5 * Stopwatch.Frequency;
            while (Stopwatch.GetTimestamp() < drainUntil && connections.Any(c => c.Inflight > 0 && !c.IsLost))
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
        if (s.Limit > 0 && connections.Any(c => !c.IsDone))
        {
            result.Complete = false;
        }
    }

    /// <summary>
    /// One loop for every publisher at a fixed rate: each tick gives every client the messages due by now (client i is
    /// offset by i/N of an interval, so the load is spread). QoS 1/2 messages that do not fit the window are skipped.
    /// </summary>
    private static async Task<long> FixedRateLoopAsync(BenchRun run, BenchConnection[] connections, long start, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var s = run.Settings;
        var interval = Math.Max(1, (long)(s.IntervalMs * Stopwatch.Frequency / 1000));
        var scheduled = new long[connections.Length];
        long skipped = 0;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(s.IntervalMs / 2, 1, 50));
        using var timer = new PeriodicTimer(tick);
        do
        {
            if (!run.Producing)
            {
                break;
            }
            var elapsed = Stopwatch.GetTimestamp() - start;
            for (var i = 0; i < connections.Length; i++)
            {
                var c = connections[i];
                var offset = interval * i / connections.Length;
                var due = elapsed >= offset ? (elapsed - offset) / interval + 1 : 0;
                due = Math.Min(due, c.Quota);
                var wanted = due - scheduled[i];
                if (wanted <= 0)
                {
                    continue;
                }
                scheduled[i] = due;
                var sent = c.Publish((int)Math.Min(wanted, 100_000));
                if (sent < wanted && !c.IsLost)
                {
                    skipped += wanted - sent;
                    if (c.Quota != long.MaxValue)
                    {
                        c.Quota -= wanted - sent; // a skipped message counts against --limit
                    }
                }
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        return skipped;
    }

    internal static async Task RunSubAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
    {
        var s = run.Settings;
        if (s.WarmupSeconds <= 0)
        {
            run.Measuring = true; // count from the very first delivery
        }
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        var waitingSince = Stopwatch.GetTimestamp();
        var lastProgress = waitingSince;
        while (BenchTotals.Of(connections).Received == 0 && run.Lost < connections.Length)
        {
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
            if (progress is not null && Stopwatch.GetElapsedTime(lastProgress).TotalSeconds >= 1)
            {
                lastProgress = Stopwatch.GetTimestamp();
                await progress.WriteAsync($"\r[{Stopwatch.GetElapsedTime(waitingSince).TotalSeconds,5:0}s] {connections.Length:N0} subscribed, waiting for the first message   ")
                    .ConfigureAwait(false);
            }
        }
        var window = new BenchWindow(run, connections, progress, Stopwatch.GetTimestamp()).Open();
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            var finished = s.Limit > 0 && BenchTotals.Of(connections).Received >= s.Limit;
            if (window.Tick(finished))
            {
                break;
            }
        }
        window.Finish(result);
        var latency = new LatencyHistogram();
        foreach (var c in connections)
        {
            if (c.Latency is { } h)
            {
                latency.Merge(h);
            }
        }
        result.LatencyCount = latency.Count;
        result.LatencyMeanUs = latency.Mean;
        result.LatencyP50Us = latency.Percentile(0.50);
        result.LatencyP99Us = latency.Percentile(0.99);
        result.LatencyP999Us = latency.Percentile(0.999);
        result.LatencyMaxUs = latency.Count == 0 ? 0 : latency.Max;
        if (s.Limit > 0 && BenchTotals.Of(connections).Received < s.Limit)
        {
            result.Complete = false;
        }
    }

    internal static async Task RunConnAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
    {
        var s = run.Settings;
        if (s.BrokerPid is { } pid)
        {
            // Give the broker a moment to settle (and its GC to run) before reading its RSS.
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            result.BrokerRssAfterKiB = BenchRunner.ReadRssKiB(pid);
            if (result.BrokerRssBeforeKiB is { } before && result.BrokerRssAfterKiB is { } after && connections.Length > 0)
            {
                result.BrokerRssPerConnectionKiB = (after - before) / (double)connections.Length;
            }
        }
        var holdStart = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        var lastProgress = holdStart;
        while (Stopwatch.GetElapsedTime(holdStart).TotalSeconds < s.WindowSeconds && run.Lost < connections.Length)
        {
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
            if (progress is not null && Stopwatch.GetElapsedTime(lastProgress).TotalSeconds >= 1)
            {
                lastProgress = Stopwatch.GetTimestamp();
                await progress.WriteAsync(string.Create(CultureInfo.InvariantCulture,
                    $"\r[{Stopwatch.GetElapsedTime(holdStart).TotalSeconds,5:0}s holding] {connections.Length - run.Lost:N0} connections open   ")).ConfigureAwait(false);
            }
        }
        result.WindowSeconds = Stopwatch.GetElapsedTime(holdStart).TotalSeconds;
    }
}
