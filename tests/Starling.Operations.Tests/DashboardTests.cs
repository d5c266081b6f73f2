using System.Text;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;
using Starling.Protocol;

namespace Starling.Operations.Tests;

/// <summary>The web dashboard in headless Chromium; screenshots go to artifacts/screenshots.</summary>
public sealed class DashboardTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["SysInterval"] = "2" });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Files_are_served_with_a_content_security_policy()
    {
        var index = await _server.Http.GetAsync("");
        Assert.Equal("text/html", index.Content.Headers.ContentType?.MediaType);
        Assert.Contains("script-src 'self'", index.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Contains("/dashboard/app.js", await index.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        foreach (var file in new[] { "app.js", "mqtt-ws.js", "style.css" })
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, (await _server.Http.GetAsync("dashboard/" + file)).StatusCode);
        }
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await _server.Http.GetAsync("dashboard/missing.js")).StatusCode);
    }

    [Fact]
    public async Task Dashboard_shows_a_client_disconnects_it_and_round_trips_a_message()
    {
        NodeTools.RequireChromium();
        var clientId = Names.ClientId("dash");
        var topic = Names.Topic("dashboard");
        await using var client = await _server.ConnectClientAsync(clientId, cleanSession: false);
        await client.SubscribeAsync(topic + "/#", QualityOfService.AtLeastOnce);
        await client.PublishAsync(topic, Encoding.UTF8.GetBytes("hello from .NET"), QualityOfService.AtLeastOnce, retain: true);

        // Some traffic for the overview's charts while the browser runs.
        using var stop = new CancellationTokenSource();
        await using var sender = await _server.ConnectClientAsync(Names.ClientId("load"));
        await using var receiver = await _server.ConnectClientAsync(Names.ClientId("sink"));
        await receiver.SubscribeAsync(topic + "/load", QualityOfService.AtMostOnce);
        var traffic = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                await sender.PublishAsync(topic + "/load", Encoding.UTF8.GetBytes("tick " + i++), QualityOfService.AtMostOnce);
                // Real time on purpose: pacing, not waiting; the browser's charts sample the rate in real time.
                await Task.Delay(i % 40 < 20 ? 50 : 150, CancellationToken.None);
                while (receiver.Messages.TryRead(out _))
                {
                }
            }
        });

        var screenshots = NodeTools.ScreenshotFolder();
        string output;
        try
        {
            output = await NodeTools.RunScriptAsync("dashboard.mjs", new Dictionary<string, string>
            {
                ["DASHBOARD_URL"] = _server.DashboardUrl,
                ["API_KEY"] = OpsServer.ApiKey,
                ["CLIENT_ID"] = clientId,
                ["TOPIC"] = topic,
                ["SCREENSHOTS"] = screenshots,
                ["CHROMIUM"] = NodeTools.ChromiumPath,
            }, TimeSpan.FromSeconds(150));
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }

        Assert.Contains("SIGNED_IN", output, StringComparison.Ordinal);
        Assert.Contains("CLIENT_SHOWN subscriptions=1", output, StringComparison.Ordinal);
        Assert.Contains("DISCONNECTED", output, StringComparison.Ordinal);
        Assert.Contains("ROUNDTRIP", output, StringComparison.Ordinal);
        Assert.Contains("\nOK", output, StringComparison.Ordinal);
        // The disconnect button really disconnected the client.
        await client.Disconnected.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(client.IsConnected);
        // The built-in client published over WebSockets: the TCP subscriber's session (now offline) queued it.
        var session = _server.Server.Broker.GetSession(clientId);
        Assert.NotNull(session);
        Assert.Equal(1, session.QueuedCount + session.InflightCount);
        foreach (var name in new[] { "dashboard-login.png", "dashboard-overview.png", "dashboard-clients.png", "dashboard-mqtt-client.png" })
        {
            Assert.True(new FileInfo(Path.Combine(screenshots, name)).Length > 5000, $"screenshot {name} missing or empty");
        }
    }
}
