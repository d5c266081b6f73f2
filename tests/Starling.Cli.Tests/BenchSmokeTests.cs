using System.Net;
using Starling.Cli.Bench;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Cli.Tests;

/// <summary>`starling bench` against an in-process server: a few hundred messages, counts checked end to end.</summary>
public sealed class BenchSmokeTests : IAsyncLifetime
{
    private TestServer _server = null!;

    // The toolkit's server: memory store, port 0, its log captured (not written to the console) and checked for errors at teardown.
    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private BenchSettings Settings(BenchMode mode, int clients, QualityOfService qos, string topic, long limit) => new()
    {
        Mode = mode,
        Host = "127.0.0.1",
        Port = _server.Port,
        Clients = clients,
        QoS = qos,
        Topic = topic,
        Limit = limit,
        TimeoutSeconds = 30,
        ClientIdPrefix = $"t{Guid.NewGuid():N}"[..10],
    };

    [Theory]
    [InlineData(QualityOfService.AtMostOnce, 4)]
    [InlineData(QualityOfService.AtLeastOnce, 4)]
    [InlineData(QualityOfService.ExactlyOnce, 5)]
    public async Task Pub_and_sub_count_every_message(QualityOfService qos, int version)
    {
        const int messages = 300;
        var sub = Settings(BenchMode.Sub, 1, qos, "bench/#", messages);
        sub.Version = (ProtocolVersion)version;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sub.OnReady = ready.SetResult;
        var subscriber = BenchRunner.RunAsync(sub, null, CancellationToken.None);
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var pub = Settings(BenchMode.Pub, 3, qos, "bench/%i", messages);
        pub.Version = (ProtocolVersion)version;
        // QoS 0 has no flow control: a fixed rate keeps the server's per-connection queue from dropping any.
        pub.MaxRate = qos != QualityOfService.AtMostOnce;
        pub.IntervalMs = 2;
        var published = await BenchRunner.RunAsync(pub, null, CancellationToken.None);
        var received = await subscriber;

        Assert.True(published.Complete, published.ToText());
        Assert.Equal(3, published.Connected);
        Assert.Equal(messages, published.TotalSent);
        Assert.Equal(qos == QualityOfService.AtMostOnce ? 0 : messages, published.TotalCompleted);
        Assert.True(received.Complete, received.ToText());
        Assert.Equal(messages, received.TotalReceived);
        Assert.Equal(messages, received.LatencyCount);
        Assert.InRange(received.LatencyP50Us, 0, 10_000_000);

        using var json = new MemoryStream();
        received.WriteJson(json);
        using var doc = System.Text.Json.JsonDocument.Parse(json.ToArray());
        Assert.Equal(messages, doc.RootElement.GetProperty("totalReceived").GetInt64());
    }

    [Fact]
    public async Task Conn_opens_and_holds_idle_connections()
    {
        var conn = Settings(BenchMode.Conn, 50, QualityOfService.AtMostOnce, "bench/%i", 0);
        conn.DurationSeconds = 0.5;
        conn.ConnectRate = 500;
        conn.KeepAliveSeconds = 600;
        conn.BrokerPid = Environment.ProcessId;
        var result = await BenchRunner.RunAsync(conn, null, CancellationToken.None);
        Assert.True(result.Complete, result.ToText());
        Assert.Equal(50, result.Connected);
        Assert.True(result.ConnectRate > 0);
        Assert.NotNull(result.BrokerRssAfterKiB);
    }

    [Fact]
    public void Histogram_percentiles_are_within_a_few_percent()
    {
        var h = new LatencyHistogram();
        for (var i = 1; i <= 100_000; i++)
        {
            h.Record(i);
        }
        Assert.InRange(h.Percentile(0.5), 48_500, 51_500);
        Assert.InRange(h.Percentile(0.99), 96_000, 100_000);
        Assert.Equal(100_000, h.Max);
        Assert.Equal(1, h.Percentile(0));
    }

    [Fact]
    public void Source_address_ranges_expand()
    {
        Assert.Equal(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"],
            BenchCommand.ParseAddresses("127.0.0.2-4, 127.0.0.9").Select(a => a.ToString()));
        Assert.Equal(8, BenchCommand.ParseAddresses("127.0.0.1-127.0.0.8").Count);
        Assert.Throws<FormatException>(() => BenchCommand.ParseAddresses("127.0.0.1-127.0.1.8"));
        Assert.Equal(IPAddress.Loopback, BenchCommand.ParseAddresses("127.0.0.1")[0]);
    }
}
