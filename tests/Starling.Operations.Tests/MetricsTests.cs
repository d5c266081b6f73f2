using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;
using Starling.Protocol;

namespace Starling.Operations.Tests;

/// <summary>/metrics in the Prometheus text format after a known workload.</summary>
public sealed partial class MetricsTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["AllowAnonymous"] = "false" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Metrics_count_a_known_workload()
    {
        // AllowAnonymous=false and no password file: every client is refused as anonymous. Two refusals first ...
        for (var i = 0; i < 2; i++)
        {
            var refused = new Starling.Client.MqttClient();
            var ack = await refused.ConnectAsync(new Starling.Client.MqttClientOptions
            {
                Host = "127.0.0.1",
                Port = _server.Port,
                ClientId = Names.ClientId("anon"),
            });
            Assert.NotEqual(ReasonCode.Success, ack.ReasonCode);
            await refused.DisposeAsync();
        }

        var before = Parse(await _server.Http.GetStringAsync("metrics"));
        Assert.Equal(0, before["starling_connections_active"]);
        Assert.Equal(2, before["starling_connections_refused_total"]);
        Assert.Equal(2, before["starling_auth_failures_total{reason=\"anonymous_refused\"}"]);
        Assert.Equal(0, before["starling_messages_received_total"]);

        // ... then the metrics of a workload over a server that lets clients in.
        await using var open = await OpsServer.StartAsync();
        var topic = Names.Topic("metrics");
        await using var sub = await open.ConnectClientAsync(Names.ClientId("s"), cleanSession: false);
        await using var pub = await open.ConnectClientAsync(Names.ClientId("p"));
        await sub.SubscribeAsync(topic, QualityOfService.AtLeastOnce);
        for (var i = 0; i < 5; i++)
        {
            await pub.PublishAsync(topic, Encoding.UTF8.GetBytes("message " + i), QualityOfService.AtLeastOnce);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++)
        {
            await sub.Messages.ReadAsync(timeout.Token);
        }
        await pub.PublishAsync(topic + "/retained", Encoding.UTF8.GetBytes("kept"), QualityOfService.AtMostOnce, retain: true);

        var text = await Eventually.GetAsync(() => open.Http.GetStringAsync("metrics"),
            t => Parse(t).GetValueOrDefault("starling_messages_received_total") == 6, "6 messages received in /metrics");
        var m = Parse(text);
        Assert.Equal(2, m["starling_connections_active"]);
        Assert.Equal(2, m["starling_connections_accepted_total"]);
        Assert.Equal(0, m["starling_connections_refused_total"]);
        Assert.Equal(2, m["starling_sessions"]);
        Assert.Equal(1, m["starling_subscriptions"]);
        Assert.Equal(1, m["starling_retained_messages"]);
        Assert.Equal(5, m["starling_messages_delivered_total"]);
        Assert.Equal(0, m["starling_messages_dropped_total{reason=\"queue_full\"}"]);
        Assert.Equal(0, m["starling_messages_dropped_total{reason=\"expired\"}"]);
        Assert.Equal(0, m["starling_queue_depth{state=\"queued\"}"]);
        Assert.True(m.ContainsKey("starling_queue_depth{state=\"inflight\"}"));
        Assert.True(m["starling_bytes_received_total"] > 5 * 9);
        Assert.True(m["starling_bytes_sent_total"] > 5 * 9);
        Assert.True(m["starling_uptime_seconds"] >= 0);
        Assert.Contains("# TYPE starling_messages_received_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE starling_connections_active gauge", text, StringComparison.Ordinal);
        Assert.Contains("# HELP starling_messages_dropped_total ", text, StringComparison.Ordinal);
    }

    /// <summary>Parses the exposition, checking every line's syntax; keys are "name{labels}" as written.</summary>
    internal static Dictionary<string, double> Parse(string text)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            if (line.StartsWith('#'))
            {
                Assert.Matches(CommentLine(), line);
                continue;
            }
            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"not a Prometheus sample line: '{line}'");
            values.Add(match.Groups["key"].Value, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture));
        }
        return values;
    }

    [GeneratedRegex("""^(?<key>[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})?) (?<value>[-+0-9.eE]+|NaN|[+-]Inf)$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$""")]
    private static partial Regex CommentLine();
}
