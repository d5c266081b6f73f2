using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>State shared by the connections of one run.</summary>
internal sealed class BenchRun(BenchSettings settings, IPEndPoint endpoint)
{
    private volatile bool _producing;
    private volatile bool _measuring;
    private string? _firstError;
    private int _lost;

    public BenchSettings Settings { get; } = settings;
    public IPEndPoint Endpoint { get; } = endpoint;

    /// <summary>Publishers may send (pub mode, between start and stop).</summary>
    public bool Producing { get => _producing; set => _producing = value; }

    /// <summary>Inside the measured window: subscribers record latencies.</summary>
    public bool Measuring { get => _measuring; set => _measuring = value; }

    public int Lost => Volatile.Read(ref _lost);
    public string? FirstError => Volatile.Read(ref _firstError);

    public void OnConnectionLost(BenchConnection connection)
    {
        Interlocked.Increment(ref _lost);
        ReportError($"client {connection.Index}: {connection.LostReason}");
    }

    public void ReportError(string message) => Interlocked.CompareExchange(ref _firstError, message, null);
}

/// <summary>Runs <c>starling bench</c>: opens the connections, drives the mode, measures one window, closes.</summary>
public static class BenchRunner
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Runs one bench; <paramref name="progress"/> (a terminal) gets a live line once per second.</summary>
    public static async Task<BenchResult> RunAsync(BenchSettings settings, TextWriter? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var timeoutSeconds = settings.TimeoutSeconds > 0 ? settings.TimeoutSeconds : DefaultTimeout(settings);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
        var token = timeout.Token;

        var result = new BenchResult
        {
            Mode = settings.Mode,
            Clients = settings.Clients,
            QoS = (int)settings.QoS,
            PayloadSize = settings.PayloadSize,
        };
        var endpoint = await ResolveAsync(settings.Host, settings.Port, token).ConfigureAwait(false);
        var run = new BenchRun(settings, endpoint);
        result.BrokerRssBeforeKiB = settings.BrokerPid is { } pid ? ReadRssKiB(pid) : null;

        var connections = new BenchConnection?[settings.Clients];
        var connectLatency = new LatencyHistogram();
        var openWatch = Stopwatch.StartNew();
        var live = Array.Empty<BenchConnection>();
        using var stopKeepAlive = new CancellationTokenSource();
        var keepAliveLoop = Task.CompletedTask;
        try
        {
            await OpenAllAsync(run, connections, connectLatency, progress, token).ConfigureAwait(false);
            result.ConnectSeconds = openWatch.Elapsed.TotalSeconds;
            live = [.. connections.Where(c => c is not null).Select(c => c!)];
            result.Connected = live.Length;
            result.ConnectFailures = settings.Clients - live.Length;
            result.ConnectRate = live.Length / Math.Max(result.ConnectSeconds, 1e-6);
            result.ConnectP50Us = connectLatency.Percentile(0.50);
            result.ConnectP99Us = connectLatency.Percentile(0.99);
            keepAliveLoop = KeepAliveLoopAsync(live, stopKeepAlive.Token);
            if (settings.ReadyFile is { } ready)
            {
                await File.WriteAllTextAsync(ready, "", token).ConfigureAwait(false);
            }
            settings.OnReady?.Invoke();
            if (live.Length > 0)
            {
                switch (settings.Mode)
                {
                    case BenchMode.Pub:
                        await RunPubAsync(run, live, result, progress, token).ConfigureAwait(false);
                        break;
                    case BenchMode.Sub:
                        await RunSubAsync(run, live, result, progress, token).ConfigureAwait(false);
                        break;
                    default:
                        await RunConnAsync(run, live, result, progress, token).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            run.ReportError($"timed out after {timeoutSeconds:0.#} s");
            result.Complete = false;
        }
        finally
        {
            run.Producing = false;
            run.Measuring = false;
            if (progress is not null)
            {
                await progress.WriteAsync('\n').ConfigureAwait(false);
            }
            await stopKeepAlive.CancelAsync().ConfigureAwait(false);
            await keepAliveLoop.ConfigureAwait(false);
            live = [.. connections.Where(c => c is not null).Select(c => c!)];
            result.TotalSent = live.Sum(c => Volatile.Read(ref c.Sent));
            result.TotalCompleted = live.Sum(c => Volatile.Read(ref c.Completed));
            result.TotalReceived = live.Sum(c => Volatile.Read(ref c.Received));
            result.AckErrors = live.Sum(c => Volatile.Read(ref c.Errors));
            result.ConnectionsLost = run.Lost;
            await Task.WhenAll(live.Select(c => c.CloseAsync(CloseTimeout))).ConfigureAwait(false);
        }
        result.FirstError = run.FirstError;
        if (result.ConnectFailures > 0 || result.ConnectionsLost > 0 || live.Length == 0)
        {
            result.Complete = false;
        }
        return result;
    }

    private static double DefaultTimeout(BenchSettings s)
    {
        var connectAllowance = 30 + (s.ConnectRate > 0 ? s.Clients / s.ConnectRate : s.Clients / 500.0);
        return double.IsFinite(s.WindowSeconds) ? s.WarmupSeconds + s.WindowSeconds + connectAllowance + 30 : 300;
    }

    private static async Task<IPEndPoint> ResolveAsync(string host, int port, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return new IPEndPoint(address, port);
        }
        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new IOException($"cannot resolve '{host}'");
        return new IPEndPoint(chosen, port);
    }

    private static async Task OpenAllAsync(BenchRun run, BenchConnection?[] connections, LatencyHistogram connectLatency, TextWriter? progress,
        CancellationToken cancellationToken)
    {
        var s = run.Settings;
        var (receiveBuffer, sendBuffer) = s.Mode switch
        {
            BenchMode.Pub => (4096, 16 * 1024 + 1024),
            BenchMode.Sub => (s.Clients > 100 ? 8192 : 64 * 1024, 1024),
            _ => (256, 256),
        };
        // Quotas: --limit split so that the totals add up exactly.
        long PerClient(int i) => s.Limit <= 0 ? long.MaxValue : s.Limit / s.Clients + (i < s.Limit % s.Clients ? 1 : 0);

        using var gate = new SemaphoreSlim(Math.Max(1, s.ConnectConcurrency));
        var tasks = new List<Task>(s.Clients);
        var start = Stopwatch.GetTimestamp();
        var lastProgress = start;
        var opened = 0;
        for (var i = 0; i < s.Clients; i++)
        {
            if (s.ConnectRate > 0)
            {
                var due = start + (long)(i / s.ConnectRate * Stopwatch.Frequency);
                var ahead = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (ahead > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(ahead, cancellationToken).ConfigureAwait(false);
                }
            }
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            var index = i;
            tasks.Add(OpenOneAsync(index));
            if (progress is not null && Stopwatch.GetElapsedTime(lastProgress).TotalSeconds >= 1)
            {
                lastProgress = Stopwatch.GetTimestamp();
                await progress.WriteAsync($"\rconnecting: {Volatile.Read(ref opened):N0}/{s.Clients:N0}   ").ConfigureAwait(false);
            }
        }
        await Task.WhenAll(tasks).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        async Task OpenOneAsync(int index)
        {
            try
            {
                var began = Stopwatch.GetTimestamp();
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(TimeSpan.FromSeconds(30));
                var connection = await BenchConnection.ConnectAsync(run, index, receiveBuffer, sendBuffer, attempt.Token).ConfigureAwait(false);
                var micros = Stopwatch.GetElapsedTime(began).Ticks / 10;
                lock (connectLatency)
                {
                    connectLatency.Record(micros);
                }
                try
                {
                    switch (s.Mode)
                    {
                        case BenchMode.Pub:
                            connection.PreparePublish(s.TopicFor(index), s.QoS, s.PayloadSize);
                            connection.Quota = PerClient(index);
                            break;
                        case BenchMode.Sub:
                            connection.Latency = new LatencyHistogram();
                            await connection.SubscribeAsync(s.TopicFor(index), s.QoS, attempt.Token).ConfigureAwait(false);
                            break;
                        default:
                            break;
                    }
                }
                catch
                {
                    connection.Abort();
                    throw;
                }
                connections[index] = connection;
                Interlocked.Increment(ref opened);
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or MqttProtocolException)
            {
                if (!cancellationToken.IsCancellationRequested)
                {
                    run.ReportError($"client {index}: {ex.Message}");
                }
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private static async Task KeepAliveLoopAsync(BenchConnection[] connections, CancellationToken cancellationToken)
    {
        if (connections.Length == 0)
        {
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                foreach (var connection in connections)
                {
                    connection.KeepAlive(now);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private readonly record struct Totals(long Sent, long Completed, long Received)
    {
        public static Totals Of(BenchConnection[] connections)
        {
            long sent = 0, completed = 0, received = 0;
            foreach (var c in connections)
            {
                sent += Volatile.Read(ref c.Sent);
                completed += Volatile.Read(ref c.Completed);
                received += Volatile.Read(ref c.Received);
            }
            return new Totals(sent, completed, received);
        }
    }

    /// <summary>The warmup / measured-window clock shared by pub and sub, with the progress line.</summary>
    private sealed class Window(BenchRun run, BenchConnection[] connections, TextWriter? progress, long start)
    {
        private readonly long _start = start;
        private readonly long _windowStart = start + (long)(run.Settings.WarmupSeconds * Stopwatch.Frequency);
        private long _measuredFrom;
        private Totals _atStart;
        private Totals _lastProgress;
        private long _lastProgressTicks = start;

        public bool Started { get; private set; }

        /// <summary>Without a warmup the window opens at once.</summary>
        public Window Open()
        {
            if (run.Settings.WarmupSeconds <= 0)
            {
                Started = true;
                _measuredFrom = _start;
                run.Measuring = true;
            }
            return this;
        }

        /// <summary>Advances the clock; true when the window is over.</summary>
        public bool Tick(bool finished)
        {
            var now = Stopwatch.GetTimestamp();
            if (!Started && (now >= _windowStart || finished))
            {
                Started = true;
                _measuredFrom = now;
                _atStart = run.Settings.WarmupSeconds > 0 ? Totals.Of(connections) : default;
                run.Measuring = true;
            }
            if (progress is not null && Stopwatch.GetElapsedTime(_lastProgressTicks, now).TotalSeconds >= 1)
            {
                var totals = Totals.Of(connections);
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
                _atStart = Totals.Of(connections);
            }
            var end = Totals.Of(connections);
            run.Measuring = false;
            var seconds = Math.Max(Stopwatch.GetElapsedTime(_measuredFrom, now).TotalSeconds, 1e-6);
            result.WindowSeconds = seconds;
            result.Sent = end.Sent - _atStart.Sent;
            result.Completed = end.Completed - _atStart.Completed;
            result.Received = end.Received - _atStart.Received;
            result.Rate = (run.Settings.Mode == BenchMode.Sub ? result.Received : result.Sent) / seconds;
            result.CompletedRate = result.Completed / seconds;
        }
    }

    private static async Task RunPubAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
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

        var window = new Window(run, connections, progress, start).Open();
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

    private static async Task RunSubAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
    {
        var s = run.Settings;
        if (s.WarmupSeconds <= 0)
        {
            run.Measuring = true; // count from the very first delivery
        }
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        var waitingSince = Stopwatch.GetTimestamp();
        var lastProgress = waitingSince;
        while (Totals.Of(connections).Received == 0 && run.Lost < connections.Length)
        {
            await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
            if (progress is not null && Stopwatch.GetElapsedTime(lastProgress).TotalSeconds >= 1)
            {
                lastProgress = Stopwatch.GetTimestamp();
                await progress.WriteAsync($"\r[{Stopwatch.GetElapsedTime(waitingSince).TotalSeconds,5:0}s] {connections.Length:N0} subscribed, waiting for the first message   ")
                    .ConfigureAwait(false);
            }
        }
        var window = new Window(run, connections, progress, Stopwatch.GetTimestamp()).Open();
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            var finished = s.Limit > 0 && Totals.Of(connections).Received >= s.Limit;
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
        if (s.Limit > 0 && Totals.Of(connections).Received < s.Limit)
        {
            result.Complete = false;
        }
    }

    private static async Task RunConnAsync(BenchRun run, BenchConnection[] connections, BenchResult result, TextWriter? progress, CancellationToken cancellationToken)
    {
        var s = run.Settings;
        if (s.BrokerPid is { } pid)
        {
            // Give the broker a moment to settle (and its GC to run) before reading its RSS.
            await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            result.BrokerRssAfterKiB = ReadRssKiB(pid);
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

    /// <summary>VmRSS of a process in KiB, from /proc/PID/status (null where that cannot be read).</summary>
    public static long? ReadRssKiB(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var digits = line.AsSpan(6).Trim();
                    var space = digits.IndexOf(' ');
                    return long.Parse(space < 0 ? digits : digits[..space], NumberStyles.None, CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }
}
