using System.Net.Http.Json;
using Starling.Operations.Tests.Infrastructure;
using Starling.Protocol;
using Starling.Server.Management;
using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>
/// Issue 16, finding 20: every message the broker drops is counted by reason, per client where there is one, and shown
/// in /metrics, the management API (per session and in /api/stats) and the dashboard's data.
/// </summary>
public sealed class DropAccountingTests
{
    [Fact]
    public async Task Queue_full_and_session_end_drops_are_counted_by_reason_in_metrics_and_per_client_in_the_API()
    {
        await using var server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxQueuedMessages"] = "2" });
        var topic = Names.Topic("drops");
        var subscriber = Names.ClientId("sub");
        await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false))
        {
            await sub.SubscribeAllAsync((topic, QualityOfService.AtLeastOnce));
            await sub.DisconnectAsync();
        }
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the subscriber is offline");
        await using (var pub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, Names.ClientId("pub"), cleanSession: true))
        {
            for (var i = 0; i < 5; i++)
            {
                await pub.PublishAckedAsync(topic, "m" + i, QualityOfService.AtLeastOnce);
            }
        }

        // Per client: 3 messages found the queue full.
        var detail = await server.Api.GetFromJsonAsync<SessionDetailModel>($"api/sessions/{subscriber}");
        Assert.Equal(3, detail!.Session.Dropped!["queue_full"]);
        var stats = await server.Api.GetFromJsonAsync<StatsModel>("api/stats");
        Assert.Equal(3, stats!.DroppedByReason!["queue_full"]);
        Assert.Equal(3, stats.MessagesDropped);

        // A clean start discards the session with its 2 queued messages: counted as session_ended, not silent.
        await using (var fresh = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: true))
        {
            await fresh.DisconnectAsync();
        }
        var text = await Eventually.GetAsync(() => server.Http.GetStringAsync("metrics"),
            t => MetricsTests.Parse(t).GetValueOrDefault("starling_messages_dropped_total{reason=\"session_ended\"}") == 2,
            "2 session_ended drops in /metrics");
        var m = MetricsTests.Parse(text);
        Assert.Equal(3, m["starling_messages_dropped_total{reason=\"queue_full\"}"]);
        foreach (var reason in new[] { "qos0_backlog", "too_large", "expired", "not_authorized", "no_group_member", "offline_qos0_expired" })
        {
            Assert.Equal(0, m[$"starling_messages_dropped_total{{reason=\"{reason}\"}}"]);
        }
        Assert.Equal(0, m["starling_limits_refused_total{limit=\"retained\"}"]);
        Assert.True(m.ContainsKey("starling_retained_bytes"));

        // The dashboard shows the reasons from /api/stats.
        var app = await server.Http.GetStringAsync("dashboard/app.js");
        Assert.Contains("droppedByReason", app, StringComparison.Ordinal);
    }
}
