using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;
using Starling.Protocol;

namespace Starling.Operations.Tests;

/// <summary>MQTT over WebSockets: raw frames from .NET, MQTT.js in Node and MQTT.js in Chromium.</summary>
public sealed class WebSocketTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await OpsServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Raw_websocket_client_selects_mqtt_subprotocol_and_reaches_a_tcp_subscriber()
    {
        var topic = Names.Topic("raw");
        await using var tcp = await _server.ConnectClientAsync(Names.ClientId("tcp"));
        await tcp.SubscribeAsync(topic, QualityOfService.AtMostOnce);

        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("mqtt");
        await ws.ConnectAsync(new Uri(_server.WebSocketUrl), CancellationToken.None);
        Assert.Equal("mqtt", ws.SubProtocol);

        var clientId = Names.ClientId("ws");
        await ws.SendAsync(Connect(clientId), WebSocketMessageType.Binary, true, CancellationToken.None);
        var connack = await ReceiveAsync(ws, 4);
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, 0x00 }, connack);

        // Two packets split across three WebSocket messages [MQTT-6.0.0-2]: the broker reads a byte stream.
        var bytes = Publish(topic, "over websockets").Concat(Publish(topic, "second")).ToArray();
        await ws.SendAsync(bytes.AsMemory(0, 3), WebSocketMessageType.Binary, true, CancellationToken.None);
        await ws.SendAsync(bytes.AsMemory(3, 10), WebSocketMessageType.Binary, true, CancellationToken.None);
        await ws.SendAsync(bytes.AsMemory(13), WebSocketMessageType.Binary, true, CancellationToken.None);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var first = await tcp.Messages.ReadAsync(timeout.Token);
        var second = await tcp.Messages.ReadAsync(timeout.Token);
        Assert.Equal("over websockets", Encoding.UTF8.GetString(first.Payload));
        Assert.Equal("second", Encoding.UTF8.GetString(second.Payload));

        // The management API sees the WebSocket client on listener "ws".
        var session = await _server.Api.GetFromJsonAsync<Starling.Server.Management.SessionDetailModel>($"api/sessions/{clientId}");
        Assert.NotNull(session);
        Assert.Equal("ws", session.Session.Listener);
        Assert.True(session.Session.Connected);

        await ws.SendAsync(new byte[] { 0xE0, 0x00 }, WebSocketMessageType.Binary, true, CancellationToken.None); // DISCONNECT
        var close = await ws.ReceiveAsync(new byte[16], timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
    }

    [Fact]
    public async Task Mqttv31_subprotocol_is_accepted_and_other_subprotocols_are_refused()
    {
        using (var ws = new ClientWebSocket())
        {
            ws.Options.AddSubProtocol("mqttv3.1");
            await ws.ConnectAsync(new Uri(_server.WebSocketUrl), CancellationToken.None);
            Assert.Equal("mqttv3.1", ws.SubProtocol);
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        using var refused = new ClientWebSocket();
        refused.Options.AddSubProtocol("chat");
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(new Uri(_server.WebSocketUrl), CancellationToken.None));

        // Plain HTTP on the WebSocket port: 426 on the path, 404 elsewhere; the management API is not there.
        using var http = new HttpClient { BaseAddress = new Uri($"http://{_server.WebSocket}/") };
        Assert.Equal(426, (int)(await http.GetAsync("mqtt")).StatusCode);
        Assert.Equal(404, (int)(await http.GetAsync("api/stats")).StatusCode);
    }

    [Fact]
    public async Task Websocket_upgrade_with_a_foreign_Origin_is_refused_with_403_and_same_origin_or_no_Origin_is_upgraded()
    {
        // Before: any Origin was upgraded (101), so any web page open in a local browser could use the broker.
        var ws = _server.WebSocket!;
        Assert.Equal(403, await UpgradeStatusAsync(ws, "https://evil.example"));
        Assert.Equal(403, await UpgradeStatusAsync(ws, "null")); // a sandboxed page or a file
        Assert.Equal(403, await UpgradeStatusAsync(ws, "http://127.0.0.1:1")); // same host, a port that is not the broker's
        Assert.Equal(101, await UpgradeStatusAsync(ws, origin: null)); // not a browser: no Origin header
        Assert.Equal(101, await UpgradeStatusAsync(ws, $"http://127.0.0.1:{ws.Port}")); // same origin
        Assert.Equal(101, await UpgradeStatusAsync(ws, $"http://127.0.0.1:{_server.Management!.Port}")); // the dashboard
        var metrics = await _server.Http.GetStringAsync("metrics");
        Assert.Contains("starling_security_rejections_total{cause=\"websocket_origin\"} 3", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Websocket_same_origin_by_a_DNS_name_is_refused_unless_listed_so_DNS_rebinding_gets_403()
    {
        // DNS rebinding: a page of evil.example, its name re-pointed at the broker, sends a matching Origin and Host.
        // Before: 101 (the Host header was trusted). An IP address or localhost cannot be rebound: still allowed.
        var ws = _server.WebSocket!;
        Assert.Equal(403, await UpgradeStatusAsync(ws, $"http://evil.example:{ws.Port}", host: $"evil.example:{ws.Port}"));
        Assert.Equal(101, await UpgradeStatusAsync(ws, $"http://localhost:{ws.Port}", host: $"localhost:{ws.Port}"));
        Assert.Equal(101, await UpgradeStatusAsync(ws, $"http://127.0.0.1:{ws.Port}"));
    }

    [Fact]
    public async Task Websocket_origins_listed_in_AllowedOrigins_are_upgraded()
    {
        await using var server = await OpsServer.StartAsync(new Dictionary<string, string?> { ["WebSockets:AllowedOrigins"] = "https://app.example.com, http://localhost:3000" });
        Assert.Equal(101, await UpgradeStatusAsync(server.WebSocket!, "https://app.example.com"));
        Assert.Equal(101, await UpgradeStatusAsync(server.WebSocket!, "http://LOCALHOST:3000"));
        Assert.Equal(403, await UpgradeStatusAsync(server.WebSocket!, "https://other.example.com"));
    }

    /// <summary>A raw HTTP/1.1 WebSocket handshake to /mqtt (subprotocol mqtt); returns the response's status code.</summary>
    private static async Task<int> UpgradeStatusAsync(System.Net.IPEndPoint endpoint, string? origin, string? host = null)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint);
        var request = $"GET /mqtt HTTP/1.1\r\nHost: {host ?? endpoint.ToString()}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n" +
            (origin is null ? "" : $"Origin: {origin}\r\n") + "\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[1024];
        var received = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!Encoding.ASCII.GetString(buffer, 0, received).Contains("\r\n", StringComparison.Ordinal))
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(received), timeout.Token);
            Assert.True(n > 0, "the server closed without answering");
            received += n;
        }
        var statusLine = Encoding.ASCII.GetString(buffer, 0, received).Split("\r\n")[0];
        return int.Parse(statusLine.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Text_frames_close_the_connection()
    {
        using var ws = new ClientWebSocket();
        ws.Options.AddSubProtocol("mqtt");
        await ws.ConnectAsync(new Uri(_server.WebSocketUrl), CancellationToken.None);
        await ws.SendAsync(Encoding.UTF8.GetBytes("hello"), WebSocketMessageType.Text, true, CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var result = await ws.ReceiveAsync(new byte[64], timeout.Token);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, ws.CloseStatus);
    }

    [Fact]
    public async Task MqttJs_in_node_round_trips_over_websockets()
    {
        var output = await NodeTools.RunScriptAsync("mqttjs-ws.mjs",
            new Dictionary<string, string> { ["WS_URL"] = _server.WebSocketUrl, ["TOPIC"] = Names.Topic("mqttjs") }, TimeSpan.FromSeconds(60));
        Assert.Contains("OK ", output, StringComparison.Ordinal);
        Assert.Contains("hello qos0 from mqtt.js", output, StringComparison.Ordinal);
        Assert.Contains("hello qos1 from mqtt.js", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MqttJs_in_chromium_round_trips_over_websockets()
    {
        NodeTools.RequireChromium();
        var output = await NodeTools.RunScriptAsync("chromium-mqttjs.mjs",
            new Dictionary<string, string>
            {
                ["WS_URL"] = _server.WebSocketUrl,
                ["TOPIC"] = Names.Topic("chromium"),
                ["PAGE_URL"] = _server.DashboardUrl + "health",
                ["CHROMIUM"] = NodeTools.ChromiumPath
            },
            TimeSpan.FromSeconds(120));
        Assert.Contains("OK hello from chromium", output, StringComparison.Ordinal);
    }

    internal static byte[] Connect(string clientId)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        var body = new List<byte> { 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x02, 0x00, 0x3C, (byte)(id.Length >> 8), (byte)id.Length };
        body.AddRange(id);
        return [0x10, (byte)body.Count, .. body];
    }

    internal static byte[] Publish(string topic, string payload)
    {
        var t = Encoding.UTF8.GetBytes(topic);
        var p = Encoding.UTF8.GetBytes(payload);
        var body = new List<byte> { (byte)(t.Length >> 8), (byte)t.Length };
        body.AddRange(t);
        body.AddRange(p);
        return [0x30, (byte)body.Count, .. body];
    }

    private static async Task<byte[]> ReceiveAsync(ClientWebSocket ws, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (read < count)
        {
            var result = await ws.ReceiveAsync(buffer.AsMemory(read), timeout.Token);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            read += result.Count;
        }
        return buffer;
    }
}
