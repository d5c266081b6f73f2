using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;
using Starling.Protocol;
using Starling.Server.Management;

namespace Starling.Operations.Tests;

/// <summary>The management HTTP API: API keys, clients and sessions, retained messages, publish, stats, health.</summary>
public sealed class ManagementApiTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await OpsServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("api/stats")]
    [InlineData("api/sessions")]
    [InlineData("api/clients")]
    [InlineData("api/retained")]
    [InlineData("api/info")]
    public async Task Api_refuses_requests_without_a_valid_key(string path)
    {
        var none = await _server.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("Bearer", none.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, path);
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-key-0123456789");
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.SendAsync(wrong)).StatusCode);

        using var header = new HttpRequestMessage(HttpMethod.Get, path);
        header.Headers.Add("X-API-Key", OpsServer.ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await _server.Http.SendAsync(header)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _server.Api.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task Actions_refuse_requests_without_a_key()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.PostAsync("api/clients/x/disconnect", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.DeleteAsync("api/sessions/x")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.DeleteAsync("api/retained?topic=a")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _server.Http.PostAsJsonAsync("api/publish", new PublishRequest("a", "b"))).StatusCode);
    }

    [Fact]
    public async Task Health_ready_metrics_and_openapi_are_open()
    {
        Assert.Equal(HttpStatusCode.OK, (await _server.Http.GetAsync("health")).StatusCode);
        var ready = await _server.Http.GetFromJsonAsync<StatusModel>("ready");
        Assert.Equal("ready", ready?.Status);
        Assert.Equal(HttpStatusCode.OK, (await _server.Http.GetAsync("metrics")).StatusCode);
        using var openapi = JsonDocument.Parse(await _server.Http.GetStringAsync("openapi.json"));
        var paths = openapi.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/api/sessions", "/api/sessions/{clientId}", "/api/clients/{clientId}/disconnect", "/api/retained", "/api/publish", "/api/stats", "/health", "/ready" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"openapi.json lacks {path}");
        }
    }

    [Fact]
    public async Task Sessions_subscriptions_disconnect_and_delete()
    {
        var clientId = Names.ClientId("mgmt");
        var topic = Names.Topic("mgmt");
        await using var client = await _server.ConnectClientAsync(clientId, cleanSession: false);
        await client.SubscribeAsync(topic, QualityOfService.AtLeastOnce);
        await client.SubscribeAsync(topic + "/+", QualityOfService.AtMostOnce);

        var clients = await _server.Api.GetFromJsonAsync<ListResult<SessionModel>>($"api/clients?search={clientId[..8]}");
        Assert.NotNull(clients);
        var listed = Assert.Single(clients.Items, s => s.ClientId == clientId);
        Assert.True(listed.Connected);
        Assert.Equal("3.1.1", listed.ProtocolVersion);
        Assert.Equal(2, listed.Subscriptions);
        Assert.StartsWith("127.0.0.1:", listed.RemoteAddress, StringComparison.Ordinal);

        var detail = await _server.Api.GetFromJsonAsync<SessionDetailModel>($"api/sessions/{clientId}");
        Assert.NotNull(detail);
        Assert.Equal([topic, topic + "/+"], detail.SubscriptionList.Select(s => s.TopicFilter).Order(StringComparer.Ordinal));
        Assert.Equal(1, detail.SubscriptionList.Single(s => s.TopicFilter == topic).QoS);
        Assert.Equal(0, detail.Session.Queued);
        Assert.Equal(0, detail.Session.Inflight);

        var subscriptions = await _server.Api.GetFromJsonAsync<ListResult<SubscriptionModel>>($"api/subscriptions?search={topic}");
        Assert.Equal(2, subscriptions?.Total);

        var disconnect = await _server.Api.PostAsync($"api/clients/{clientId}/disconnect", null);
        Assert.Equal(HttpStatusCode.NoContent, disconnect.StatusCode);
        await client.Disconnected.WaitAsync(TimeSpan.FromSeconds(10));
        var offline = await Eventually.GetAsync(() => _server.Api.GetFromJsonAsync<SessionDetailModel>($"api/sessions/{clientId}"),
            s => s is { Session.Connected: false }, "the session to be offline");
        Assert.Equal(2, offline!.SubscriptionList.Count);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Api.PostAsync($"api/clients/{clientId}/disconnect", null)).StatusCode);

        var connectedOnly = await _server.Api.GetFromJsonAsync<ListResult<SessionModel>>($"api/sessions?connected=true&search={clientId}");
        Assert.Equal(0, connectedOnly?.Total);

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Api.DeleteAsync($"api/sessions/{clientId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Api.GetAsync($"api/sessions/{clientId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Api.DeleteAsync($"api/sessions/{clientId}")).StatusCode);
    }

    [Fact]
    public async Task Publish_retained_list_and_delete()
    {
        var topic = Names.Topic("pub");
        await using var client = await _server.ConnectClientAsync(Names.ClientId("sub"));
        await client.SubscribeAsync(topic, QualityOfService.AtLeastOnce);

        var response = await _server.Api.PostAsJsonAsync("api/publish", new PublishRequest(topic, "from the API", QoS: 1, Retain: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<PublishResult>();
        Assert.Equal(1, result?.Receivers);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var message = await client.Messages.ReadAsync(timeout.Token);
        Assert.Equal("from the API", Encoding.UTF8.GetString(message.Payload));
        Assert.Equal(QualityOfService.AtLeastOnce, message.QoS);

        var binary = await _server.Api.PostAsJsonAsync("api/publish", new PublishRequest(topic + "/bin", PayloadBase64: Convert.ToBase64String([0xFF, 0x00, 0x01]), Retain: true));
        Assert.Equal(HttpStatusCode.OK, binary.StatusCode);

        var retained = await _server.Api.GetFromJsonAsync<ListResult<RetainedMessageModel>>($"api/retained?filter={Uri.EscapeDataString(topic + "/#")}");
        Assert.NotNull(retained);
        Assert.Equal(2, retained.Total);
        var text = retained.Items.Single(m => m.Topic == topic);
        Assert.Equal("from the API", text.PayloadText);
        Assert.Equal(1, text.QoS);
        var bin = retained.Items.Single(m => m.Topic == topic + "/bin");
        Assert.Null(bin.PayloadText);
        Assert.Equal("/wAB", bin.PayloadBase64);

        Assert.Equal(HttpStatusCode.NoContent, (await _server.Api.DeleteAsync($"api/retained?topic={Uri.EscapeDataString(topic)}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Api.DeleteAsync($"api/retained?topic={Uri.EscapeDataString(topic)}")).StatusCode);
        retained = await _server.Api.GetFromJsonAsync<ListResult<RetainedMessageModel>>($"api/retained?filter={Uri.EscapeDataString(topic + "/#")}");
        Assert.Equal(topic + "/bin", Assert.Single(retained!.Items).Topic);

        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Api.PostAsJsonAsync("api/publish", new PublishRequest("a/+/b", "x"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Api.PostAsJsonAsync("api/publish", new PublishRequest("a", "x", QoS: 3))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _server.Api.GetAsync("api/retained?filter=a/%23/b")).StatusCode);
    }

    [Fact]
    public async Task Stats_reflect_a_known_workload()
    {
        var topic = Names.Topic("stats");
        await using var sub = await _server.ConnectClientAsync(Names.ClientId("s"));
        await using var pub = await _server.ConnectClientAsync(Names.ClientId("p"));
        await sub.SubscribeAsync(topic, QualityOfService.AtMostOnce);
        for (var i = 0; i < 3; i++)
        {
            await pub.PublishAsync(topic, Encoding.UTF8.GetBytes("m" + i), QualityOfService.AtLeastOnce);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 3; i++)
        {
            await sub.Messages.ReadAsync(timeout.Token);
        }
        var stats = await _server.Api.GetFromJsonAsync<StatsModel>("api/stats");
        Assert.NotNull(stats);
        Assert.Equal(2, stats.ConnectedClients);
        Assert.Equal(2, stats.Sessions);
        Assert.Equal(1, stats.Subscriptions);
        Assert.Equal(3, stats.MessagesReceived);
        Assert.Equal(3, stats.MessagesDelivered);
        Assert.Equal(2, stats.ConnectionsAccepted);
        Assert.True(stats.BytesReceived > 0 && stats.BytesSent > 0);
    }

    [Fact]
    public async Task Retained_page_converts_only_the_page_and_truncates_payload_previews()
    {
        // 32 retained messages of 2 MiB. Before: GET api/retained?limit=1 converted every payload to text and base64
        // (about 300 MB allocated per call, RSS 192 -> 650 MiB with the dashboard polling); now only the page, and a
        // preview of each payload. Allocation is measured process-wide (the server is in this process): generous bound.
        var topic = Names.Topic("big");
        var payload = new byte[2 * 1024 * 1024];
        Array.Fill(payload, (byte)'a');
        for (var i = 0; i < 32; i++)
        {
            _server.Server.Broker.Publish($"{topic}/{i:D2}", payload, QualityOfService.AtMostOnce, retain: true);
        }
        var url = $"api/retained?limit=1&filter={Uri.EscapeDataString(topic + "/#")}";
        await _server.Api.GetStringAsync(url); // warm up (JIT, routing)
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var page = await _server.Api.GetFromJsonAsync<ListResult<RetainedMessageModel>>(url);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.NotNull(page);
        Assert.Equal(32, page.Total);
        var item = Assert.Single(page.Items);
        Assert.Equal(topic + "/00", item.Topic);
        Assert.Equal(payload.Length, item.PayloadSize);
        Assert.True(item.PayloadTruncated);
        Assert.Equal(RetainedMessageModel.PreviewBytes, item.PayloadText!.Length);
        Assert.Equal(RetainedMessageModel.PreviewBytes, Convert.FromBase64String(item.PayloadBase64).Length);
        Assert.True(allocated < 32L * 1024 * 1024, $"one page of one retained message allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task Retained_preview_never_cuts_a_UTF8_character()
    {
        var topic = Names.Topic("utf8");
        // 1,023 ASCII bytes, then a 3-byte character across the 1,024-byte cut: the preview stops before it.
        var payload = Encoding.UTF8.GetBytes(new string('x', 1023) + "\u20AC" + new string('y', 10));
        _server.Server.Broker.Publish(topic, payload, QualityOfService.AtMostOnce, retain: true);
        var page = await _server.Api.GetFromJsonAsync<ListResult<RetainedMessageModel>>($"api/retained?filter={Uri.EscapeDataString(topic)}");
        var item = Assert.Single(page!.Items);
        Assert.True(item.PayloadTruncated);
        Assert.Equal(new string('x', 1023), item.PayloadText);
    }
}
