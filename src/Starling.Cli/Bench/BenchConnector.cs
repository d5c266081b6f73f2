using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>Opens the connections of a run (at the configured connect rate, with the progress line) and keeps them alive.</summary>
internal static class BenchConnector
{
    internal static async Task OpenAllAsync(BenchRun run, BenchConnection?[] connections, LatencyHistogram connectLatency, TextWriter? progress,
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

    internal static async Task KeepAliveLoopAsync(BenchConnection[] connections, CancellationToken cancellationToken)
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
}
