using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Broker.Sys;
using Starling.Client;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;
using Starling.Protocol;

namespace Starling.Operations.Tests;

/// <summary>$SYS/broker/... topics: Mosquitto's names, values after a known workload, load averages, retained.</summary>
public sealed class SysTopicTests
{
    [Fact]
    public async Task Sys_values_match_a_known_workload()
    {
        await using var server = await OpsServer.StartAsync();
        var time = new FakeTimeProvider();
        using var sys = new SysTopicPublisher(server.Server.Broker, TimeSpan.FromSeconds(10), "starling test", time);

        var topic = Names.Topic("sys");
        await using var sub = await server.ConnectClientAsync(Names.ClientId("s"), cleanSession: false);
        await using var pub = await server.ConnectClientAsync(Names.ClientId("p"));
        await sub.SubscribeAsync(topic, QualityOfService.AtLeastOnce);
        for (var i = 0; i < 60; i++)
        {
            await pub.PublishAsync(topic, Encoding.UTF8.GetBytes("m"), QualityOfService.AtLeastOnce);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 60; i++)
        {
            await sub.Messages.ReadAsync(timeout.Token);
        }
        await pub.DisconnectAsync();
        await sub.DisconnectAsync();
        await Eventually.GetAsync(() => Task.FromResult(server.Server.Broker.ConnectedClients), c => c == 0, "clients to disconnect");

        time.Advance(TimeSpan.FromSeconds(60));
        var values = sys.PublishNow();
        Assert.Equal("starling test", values["$SYS/broker/version"]);
        Assert.Equal("60 seconds", values["$SYS/broker/uptime"]);
        Assert.Equal("0", values["$SYS/broker/clients/connected"]);
        Assert.Equal("1", values["$SYS/broker/clients/disconnected"]); // the persistent session of "s"
        Assert.Equal("1", values["$SYS/broker/clients/total"]);
        Assert.Equal("60", values["$SYS/broker/messages/received"]);
        Assert.Equal("60", values["$SYS/broker/messages/sent"]);
        Assert.Equal("60", values["$SYS/broker/publish/messages/received"]);
        Assert.Equal("60", values["$SYS/broker/publish/messages/sent"]);
        Assert.Equal("0", values["$SYS/broker/publish/messages/dropped"]);
        Assert.Equal("1", values["$SYS/broker/subscriptions/count"]);
        Assert.Equal("0", values["$SYS/broker/retained messages/count"]);
        Assert.True(long.Parse(values["$SYS/broker/bytes/received"]) > 60 * 4);
        Assert.True(long.Parse(values["$SYS/broker/bytes/sent"]) > 60 * 4);
        // 60 messages in the first minute: rate 60/min; after one minute the 1-minute average is 60 * (1 - e^-1).
        Assert.Equal("37.93", values["$SYS/broker/load/publish/received/1min"]);
        Assert.Equal("37.93", values["$SYS/broker/load/messages/received/1min"]);
        Assert.Equal((60 * (1 - Math.Exp(-1.0 / 5))).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), values["$SYS/broker/load/messages/sent/5min"]);
        Assert.Equal((60 * (1 - Math.Exp(-1.0 / 15))).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), values["$SYS/broker/load/messages/sent/15min"]);
        Assert.Equal((2 * (1 - Math.Exp(-1.0))).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), values["$SYS/broker/load/connections/1min"]);

        // A quiet minute later the averages decay.
        time.Advance(TimeSpan.FromSeconds(60));
        values = sys.PublishNow();
        Assert.Equal((37.93 * Math.Exp(-1)).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)[..3],
            values["$SYS/broker/load/publish/received/1min"][..3]);

        // Published retained: a new subscriber to $SYS/# gets them.
        await using var reader = await server.ConnectClientAsync(Names.ClientId("r"));
        await reader.SubscribeAsync("$SYS/broker/#", QualityOfService.AtMostOnce);
        var got = new Dictionary<string, string>();
        using var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (got.Count < values.Count)
        {
            var message = await reader.Messages.ReadAsync(readTimeout.Token);
            Assert.True(message.Retain);
            got[message.Topic] = Encoding.UTF8.GetString(message.Payload);
        }
        Assert.Equal("60", got["$SYS/broker/publish/messages/received"]);
        Assert.Equal("120 seconds", got["$SYS/broker/uptime"]);
        Assert.Equal("1", got["$SYS/broker/subscriptions/count"]);
    }

    [Fact]
    public async Task Server_publishes_sys_topics_every_interval_and_clients_cannot_publish_there()
    {
        await using var server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["SysInterval"] = "1" });
        await using var client = await server.ConnectClientAsync(Names.ClientId("sys"));
        await client.SubscribeAsync("$SYS/broker/uptime", QualityOfService.AtMostOnce);
        await client.SubscribeAsync("$SYS/broker/version", QualityOfService.AtMostOnce);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new Dictionary<string, string>();
        var uptimes = 0;
        while (uptimes < 2 || !seen.ContainsKey("$SYS/broker/version"))
        {
            var message = await client.Messages.ReadAsync(timeout.Token);
            seen[message.Topic] = Encoding.UTF8.GetString(message.Payload);
            if (message.Topic.EndsWith("uptime", StringComparison.Ordinal))
            {
                uptimes++; // the retained one at subscribe, then the next publication a second later
            }
        }
        Assert.StartsWith("starling ", seen["$SYS/broker/version"], StringComparison.Ordinal);
        Assert.EndsWith(" seconds", seen["$SYS/broker/uptime"], StringComparison.Ordinal);

        // A client's PUBLISH to $SYS is dropped (the broker's rule); the retained value stays the broker's.
        await client.PublishAsync("$SYS/broker/version", Encoding.UTF8.GetBytes("fake"), QualityOfService.AtLeastOnce, retain: true);
        var retained = server.Server.Broker.GetRetainedMessages("$SYS/broker/version").Single();
        Assert.StartsWith("starling ", Encoding.UTF8.GetString(retained.Payload.Span), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sys_interval_zero_publishes_nothing()
    {
        // On a fake clock: a $SYS publisher, had one started, would publish at once (its first tick is due at 0) and
        // again as the clock is advanced.
        var clock = new FakeTimeProvider();
        await using var server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["SysInterval"] = "0" }, clock);
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Empty(server.Server.Broker.GetRetainedMessages("$SYS/#"));
    }
}
