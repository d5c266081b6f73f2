using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Starling.Protocol;

namespace Starling.Cli.Bench;

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
            await BenchConnector.OpenAllAsync(run, connections, connectLatency, progress, token).ConfigureAwait(false);
            result.ConnectSeconds = openWatch.Elapsed.TotalSeconds;
            if (settings.Mode == BenchMode.Conn)
            {
                result.GeneratorCpuSeconds = ProcessCpu().TotalSeconds; // the connect phase is what conn measures
            }
            live = [.. connections.Where(c => c is not null).Select(c => c!)];
            result.Connected = live.Length;
            result.ConnectFailures = settings.Clients - live.Length;
            result.ConnectRate = live.Length / Math.Max(result.ConnectSeconds, 1e-6);
            result.ConnectP50Us = connectLatency.Percentile(0.50);
            result.ConnectP99Us = connectLatency.Percentile(0.99);
            keepAliveLoop = BenchConnector.KeepAliveLoopAsync(live, stopKeepAlive.Token);
            if (settings.ReadyFile is { } ready)
            {
                await File.WriteAllTextAsync(ready, "", token).ConfigureAwait(false);
            }
            settings.OnReady?.Invoke();
            run.Ready = true;
            if (live.Length > 0)
            {
                switch (settings.Mode)
                {
                    case BenchMode.Pub:
                        await BenchModes.RunPubAsync(run, live, result, progress, token).ConfigureAwait(false);
                        break;
                    case BenchMode.Sub:
                        await BenchModes.RunSubAsync(run, live, result, progress, token).ConfigureAwait(false);
                        break;
                    default:
                        await BenchModes.RunConnAsync(run, live, result, progress, token).ConfigureAwait(false);
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
    /// <summary>CPU time (user + system) this process has used so far: the generator's own cost, reported per window.</summary>
    internal static TimeSpan ProcessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
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
