using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Broker.Storage;
using Starling.Protocol;
using Starling.Storage.Sqlite;
using Starling.Testing;
using Xunit.Abstractions;

namespace Starling.Operations.Tests;

/// <summary>
/// Issue 16, finding 19: a /metrics scrape (and /api/stats) walked every session; with many sessions each scrape cost
/// grew with them. The queue depth now comes from a Heartbeat sample, so a scrape walks no session.
/// </summary>
public sealed class MetricsScrapeCostTests(ITestOutputHelper output)
{
    private const int Sessions = 20_000;
    private const int Subscribers = 10;
    private const int Scrapes = 20;

    [Fact]
    public async Task Metrics_and_stats_do_not_walk_the_sessions_per_scrape()
    {
        var dataDirectory = Directory.CreateTempSubdirectory("starling-scrape-").FullName;
        try
        {
            var topic = Names.Topic("depth");
            Seed(dataDirectory, topic);
            // A fake clock: the Heartbeat (the one thing that walks the sessions on its own) runs only when the test
            // advances it, so every walk counted below between two advances was caused by a scrape.
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            await using var server = await TestServer.StartAsync(new TestServerOptions
            {
                DataDirectory = dataDirectory,
                Args = ["--bind", "127.0.0.1"],
                Management = true,
                Time = time,
                Config = new Dictionary<string, string?> { ["SysInterval"] = "0" },
            });
            var broker = server.Server.Broker;
            Assert.Equal(Sessions, broker.SessionCount);

            // Ten offline subscribers get one QoS 1 message each: queued in their sessions.
            Assert.Equal(Subscribers, broker.Publish(topic, Encoding.UTF8.GetBytes("m"), QualityOfService.AtLeastOnce));

            await server.Http.GetStringAsync("metrics"); // warm-up (JIT, first request)
            var walks = broker.Sessions.Walks;
            var watch = Stopwatch.StartNew();
            string text = "";
            for (var i = 0; i < Scrapes; i++)
            {
                text = await server.Http.GetStringAsync("metrics");
            }
            watch.Stop();
            for (var i = 0; i < 5; i++)
            {
                await server.Api.GetStringAsync("api/stats");
            }
            output.WriteLine($"{Sessions} sessions: {watch.Elapsed.TotalMilliseconds / Scrapes:0.00} ms per /metrics scrape");
            Assert.Equal(walks, broker.Sessions.Walks);

            // The value is the Heartbeat's sample: taken after recovery (nothing queued then), refreshed at most every
            // MqttBroker.QueueDepthInterval (docs/operations.md, "Metrics").
            Assert.Equal(0, MetricsTests.Parse(text)["starling_queue_depth{state=\"queued\"}"]);
            time.Advance(Starling.Broker.MqttBroker.QueueDepthInterval);
            var after = MetricsTests.Parse(await server.Http.GetStringAsync("metrics"));
            Assert.Equal(Subscribers, after["starling_queue_depth{state=\"queued\"}"]);
            Assert.Equal(0, after["starling_queue_depth{state=\"inflight\"}"]);
            Assert.Equal(Sessions, after["starling_sessions"]);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    /// <summary>A store with <see cref="Sessions"/> offline persistent sessions, the first ten subscribed to <paramref name="topic"/>.</summary>
    private static void Seed(string dataDirectory, string topic)
    {
        using var store = SqliteStore.Open(dataDirectory);
        var operations = new List<StoreOperation>(Sessions + Subscribers);
        for (var i = 0; i < Sessions; i++)
        {
            var clientId = "scrape-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            operations.Add(StoreOperation.UpsertSession(new StoredSession(clientId, 3600, DisconnectedAtMs: null)));
            if (i < Subscribers)
            {
                operations.Add(StoreOperation.AddSubscription(new StoredSubscription(clientId, topic, QualityOfService.AtLeastOnce, false, false,
                    RetainHandling.SendAtSubscribe, 0)));
            }
        }
        store.Apply(operations);
    }
}
