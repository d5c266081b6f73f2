using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Starling.Protocol;
using Starling.Storage.Tests.Infrastructure;
using Starling.Testing;
using Xunit.Abstractions;

namespace Starling.Storage.Tests;

/// <summary>
/// kill -9 recovery: a child starling-server is killed with SIGKILL while two publishers send numbered QoS 1 and QoS 2
/// messages to persistent sessions (one subscriber online, one offline so its queue is only on disk). After a restart
/// on the same data directory every acknowledged message must arrive: QoS 1 at least once, QoS 2 exactly once, in
/// order per publisher; retained messages must be intact. Figures go to the test output.
/// </summary>
public sealed class CrashTests(ITestOutputHelper output)
{
    private const int Window = 32;
    private static readonly TimeSpan s_runLimit = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(300)]
    [InlineData(2000)]
    [InlineData(6000)]
    public async Task Acknowledged_messages_survive_kill_9(int killAfterAcks)
    {
        var clock = Stopwatch.StartNew();
        using var dir = new TempDirectory("starling-crash");
        var onlineState = new ClientSessionState();
        var offlineState = new ClientSessionState();
        var online = new ConcurrentQueue<Received>();

        var server = await ServerProcess.StartAsync(dir.Path);
        try
        {
            foreach (var (id, state) in new[] { ("offline", offlineState), ("online", onlineState) })
            {
                var c = await RawMqttClient.ConnectSessionAsync(server.Endpoint, id, cleanSession: false, state);
                await c.SubscribeAllAsync(("c/q1/#", QualityOfService.AtLeastOnce), ("c/q2/#", QualityOfService.ExactlyOnce));
                await c.DisconnectAsync();
            }
            var onlineSub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "online", cleanSession: false, onlineState);
            var collector = Task.Run(async () =>
            {
                await foreach (var m in onlineSub.Messages.ReadAllAsync())
                {
                    online.Enqueue(m);
                }
            });

            await using (var setup = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "setup", cleanSession: true))
            {
                for (var i = 1; i <= 5; i++)
                {
                    await setup.PublishAckedAsync($"c/ret/{i}", $"r-{i}", QualityOfService.AtLeastOnce, retain: true);
                }
                await setup.DisconnectAsync();
            }

            var p1 = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "p1", cleanSession: true);
            var p2 = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "p2", cleanSession: true);
            var acked1 = new ConcurrentDictionary<int, bool>();
            var acked2 = new ConcurrentDictionary<int, bool>();
            var ackedLive = 0;
            using var stop = new CancellationTokenSource();
            // Set by the ack that brings both publishers' total to the kill point.
            var killPoint = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var ackedTotal = 0;
            void OnAck()
            {
                if (Interlocked.Increment(ref ackedTotal) >= killAfterAcks)
                {
                    killPoint.TrySetResult();
                }
            }
            var run1 = PublishAsync(p1, "c/q1/p1", QualityOfService.AtLeastOnce, acked1, OnAck, n =>
            {
                // Every 50th message also updates a retained topic: its last acknowledged value must survive.
                if (n % 50 == 0)
                {
                    _ = p1.PublishAckedAsync("c/ret/live", n.ToString(CultureInfo.InvariantCulture), QualityOfService.AtLeastOnce, retain: true)
                        .ContinueWith(t => { if (t.IsCompletedSuccessfully) { InterlockedMax(ref ackedLive, n); } }, TaskScheduler.Default);
                }
            }, stop.Token);
            var run2 = PublishAsync(p2, "c/q2/p2", QualityOfService.ExactlyOnce, acked2, OnAck, null, stop.Token);

            // Kill at the kill point, or after 15 s whatever was acknowledged by then (a slow machine still tests recovery).
            await killPoint.Task.WaitAsync(TimeSpan.FromSeconds(15)).ContinueWith(_ => { }, TaskScheduler.Default);
            server.Kill();
            var killedAt = (Q1: acked1.Count, Q2: acked2.Count);
            await stop.CancelAsync();
            await Task.WhenAll(run1, run2).WaitAsync(TimeSpan.FromSeconds(10));
            await collector.WaitAsync(TimeSpan.FromSeconds(10));
            await p1.DisposeAsync();
            await p2.DisposeAsync();
            await onlineSub.DisposeAsync();
            var liveAcked = Volatile.Read(ref ackedLive);
            await server.DisposeAsync();

            // Restart on the same directory; both subscribers resume their sessions.
            server = await ServerProcess.StartAsync(dir.Path);
            var onlineAgain = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "online", cleanSession: false, onlineState);
            var offlineAgain = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "offline", cleanSession: false, offlineState);
            Assert.True(onlineAgain.SessionPresent && offlineAgain.SessionPresent, "sessions must be present after the restart");
            var expected = acked1.Count + acked2.Count;
            var fromOnline = await onlineAgain.ReceiveMessagesAsync(int.MaxValue, TimeSpan.FromSeconds(2));
            var fromOffline = await offlineAgain.ReceiveMessagesAsync(int.MaxValue, TimeSpan.FromSeconds(2));

            await using var checker = await RawMqttClient.ConnectSessionAsync(server.Endpoint, "checker", cleanSession: true);
            await checker.SubscribeAllAsync(("c/ret/#", QualityOfService.AtLeastOnce));
            var retained = (await checker.ReceiveMessagesAsync(6, TimeSpan.FromSeconds(1))).ToDictionary(m => m.Topic, m => m.Text);

            var onlineAll = online.Concat(fromOnline).ToList();
            var reports = new[]
            {
                Check("online", "QoS 1", onlineAll, "c/q1/p1", acked1, exactlyOnce: false),
                Check("online", "QoS 2", onlineAll, "c/q2/p2", acked2, exactlyOnce: true),
                Check("offline", "QoS 1", fromOffline, "c/q1/p1", acked1, exactlyOnce: false),
                Check("offline", "QoS 2", fromOffline, "c/q2/p2", acked2, exactlyOnce: true),
            };
            output.WriteLine($"kill -9 after {killAfterAcks} acknowledgements (QoS 1 acked {killedAt.Q1}, QoS 2 acked {killedAt.Q2}; " +
                $"online subscriber had {online.Count} before the kill); run took {clock.Elapsed.TotalSeconds:F1} s");
            foreach (var r in reports)
            {
                output.WriteLine("  " + r.Line);
            }
            output.WriteLine($"  retained: {retained.Count} topics after restart, c/ret/live = {retained.GetValueOrDefault("c/ret/live", "(none)")} (last acknowledged {liveAcked})");

            Assert.All(reports, r => Assert.True(r.Ok, r.Line));
            for (var i = 1; i <= 5; i++)
            {
                Assert.Equal($"r-{i}", retained.GetValueOrDefault($"c/ret/{i}"));
            }
            if (liveAcked > 0)
            {
                Assert.True(int.Parse(retained["c/ret/live"], CultureInfo.InvariantCulture) >= liveAcked, "retained c/ret/live went back");
            }
            Assert.True(expected > 0);
            await onlineAgain.DisconnectAsync();
            await offlineAgain.DisconnectAsync();
            Assert.True(clock.Elapsed < s_runLimit, $"run took {clock.Elapsed}");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static async Task PublishAsync(RawMqttClient client, string topic, QualityOfService qos, ConcurrentDictionary<int, bool> acked,
        Action onAck, Action<int>? each, CancellationToken stop)
    {
        using var window = new SemaphoreSlim(Window);
        var inflight = new List<Task>();
        for (var n = 1; !stop.IsCancellationRequested; n++)
        {
            try
            {
                await window.WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            var number = n;
            each?.Invoke(number);
            inflight.Add(Publish());
            if (inflight.Count > 4 * Window)
            {
                inflight.RemoveAll(t => t.IsCompleted);
            }

            async Task Publish()
            {
                try
                {
                    var reason = await client.PublishAckedAsync(topic, Encoding.UTF8.GetBytes(number.ToString(CultureInfo.InvariantCulture)), qos);
                    if (reason == ReasonCode.Success)
                    {
                        acked[number] = true;
                        onAck();
                    }
                }
                catch (IOException)
                {
                    // The broker died before acknowledging: not promised, not checked.
                }
                finally
                {
                    window.Release();
                }
            }
        }
        await Task.WhenAll(inflight).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private sealed record Report(bool Ok, string Line);

    private static Report Check(string subscriber, string kind, List<Received> messages, string topic, ConcurrentDictionary<int, bool> acked, bool exactlyOnce)
    {
        var numbers = messages.Where(m => m.Topic == topic).Select(m => int.Parse(m.Text, CultureInfo.InvariantCulture)).ToList();
        var distinct = numbers.ToHashSet();
        var duplicates = numbers.Count - distinct.Count;
        var lost = acked.Keys.Count(n => !distinct.Contains(n));
        // In order per publisher: the first arrival of each number comes in increasing order (re-sends may repeat earlier ones).
        var outOfOrder = 0;
        var highest = 0;
        var seen = new HashSet<int>();
        foreach (var n in numbers)
        {
            if (seen.Add(n))
            {
                if (n < highest)
                {
                    outOfOrder++;
                }
                highest = Math.Max(highest, n);
            }
        }
        var ok = lost == 0 && outOfOrder == 0 && (!exactlyOnce || duplicates == 0);
        return new Report(ok, $"{subscriber,-7} {kind}: acknowledged {acked.Count,5}, delivered {distinct.Count,5} distinct ({numbers.Count} in all), " +
            $"duplicated {duplicates}, lost {lost}, out of order {outOfOrder}");
    }
}
