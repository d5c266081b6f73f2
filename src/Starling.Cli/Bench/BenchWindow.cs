using System.Diagnostics;
using System.Globalization;

namespace Starling.Cli.Bench;

/// <summary>Counters summed over all connections at one instant.</summary>
internal readonly record struct BenchTotals(long Sent, long Completed, long Received)
{
    public static BenchTotals Of(BenchConnection[] connections)
    {
        long sent = 0, completed = 0, received = 0;
        foreach (var c in connections)
        {
            sent += Volatile.Read(ref c.Sent);
            completed += Volatile.Read(ref c.Completed);
            received += Volatile.Read(ref c.Received);
        }
        return new BenchTotals(sent, completed, received);
    }
}

/// <summary>The warmup / measured-window clock shared by pub and sub, with the progress line.</summary>
internal sealed class BenchWindow(BenchRun run, BenchConnection[] connections, TextWriter? progress, long start)
{
    private readonly long _start = start;
    private readonly long _windowStart = start + (long)(run.Settings.WarmupSeconds * Stopwatch.Frequency);
    private long _measuredFrom;
    private BenchTotals _atStart;
    private BenchTotals _lastProgress;
    private long _lastProgressTicks = start;
    private TimeSpan _cpuAtStart;

    public bool Started { get; private set; }

    /// <summary>Without a warmup the window opens at once.</summary>
    public BenchWindow Open()
    {
        if (run.Settings.WarmupSeconds <= 0)
        {
            Started = true;
            _measuredFrom = _start;
            OnWindowOpened();
        }
        return this;
    }

    /// <summary>Starts the window's CPU count and tells a script (--window-file) when the window runs, in wall-clock time.</summary>
    private void OnWindowOpened()
    {
        run.Measuring = true;
        _cpuAtStart = BenchRunner.ProcessCpu();
        if (run.Settings.WindowFile is { } path)
        {
            var from = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
            var to = from + (double.IsFinite(run.Settings.WindowSeconds) ? run.Settings.WindowSeconds : 0);
            File.WriteAllText(path, string.Create(CultureInfo.InvariantCulture, $"{from:0.000} {to:0.000}\n"));
        }
    }

    /// <summary>Advances the clock; true when the window is over.</summary>
    public bool Tick(bool finished)
    {
        var now = Stopwatch.GetTimestamp();
        if (!Started && (now >= _windowStart || finished))
        {
            Started = true;
            _measuredFrom = now;
            _atStart = run.Settings.WarmupSeconds > 0 ? BenchTotals.Of(connections) : default;
            OnWindowOpened();
        }
        if (progress is not null && Stopwatch.GetElapsedTime(_lastProgressTicks, now).TotalSeconds >= 1)
        {
            var totals = BenchTotals.Of(connections);
            var seconds = Stopwatch.GetElapsedTime(_lastProgressTicks, now).TotalSeconds;
            var (count, total, what) = run.Settings.Mode == BenchMode.Sub
                ? (totals.Received - _lastProgress.Received, totals.Received, "received")
                : (totals.Sent - _lastProgress.Sent, totals.Sent, "sent");
            var phase = Started ? "measuring" : "warmup";
            var c = CultureInfo.InvariantCulture;
            var acked = run.Settings.QoS > 0 && run.Settings.Mode == BenchMode.Pub ? string.Create(c, $"  acked {totals.Completed,14:N0}") : "";
            var lost = run.Lost > 0 ? string.Create(c, $"  lost {run.Lost}") : "";
            progress.Write(string.Create(c,
                $"\r[{Stopwatch.GetElapsedTime(_start, now).TotalSeconds,5:0}s {phase}] {count / seconds,12:N0} msg/s  {what} {total,14:N0}{acked}{lost}   "));
            _lastProgress = totals;
            _lastProgressTicks = now;
        }
        return finished || (Started && Stopwatch.GetElapsedTime(_measuredFrom, now).TotalSeconds >= run.Settings.WindowSeconds) || run.Lost >= connections.Length;
    }

    public void Finish(BenchResult result)
    {
        var now = Stopwatch.GetTimestamp();
        if (!Started)
        {
            _measuredFrom = now;
            _atStart = BenchTotals.Of(connections);
            _cpuAtStart = BenchRunner.ProcessCpu();
        }
        var end = BenchTotals.Of(connections);
        run.Measuring = false;
        var seconds = Math.Max(Stopwatch.GetElapsedTime(_measuredFrom, now).TotalSeconds, 1e-6);
        result.WindowSeconds = seconds;
        result.Sent = end.Sent - _atStart.Sent;
        result.Completed = end.Completed - _atStart.Completed;
        result.Received = end.Received - _atStart.Received;
        result.Rate = (run.Settings.Mode == BenchMode.Sub ? result.Received : result.Sent) / seconds;
        result.CompletedRate = result.Completed / seconds;
        result.GeneratorCpuSeconds = (BenchRunner.ProcessCpu() - _cpuAtStart).TotalSeconds;
    }
}
