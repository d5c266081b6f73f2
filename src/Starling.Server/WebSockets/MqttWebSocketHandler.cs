using System.Net;
using Starling.Broker;
using Microsoft.AspNetCore.Connections.Features;
using Starling.Server.Listeners;
using Starling.Server.Logging;
using Starling.Server.Management;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.WebSockets;

/// <summary>
/// MQTT over WebSockets on the WebSocket listener: upgrades a request to the configured path with subprotocol
/// <c>mqtt</c> (or the MQTT 3.1 name <c>mqttv3.1</c>) and runs the broker over the socket, exactly like a TCP
/// connection (listener name "ws" in logs and in the management API).
/// </summary>
internal sealed class MqttWebSocketHandler(ConnectionAdmission admission, ServerSettings settings, OperationsRuntime operations,
    ILogger<MqttWebSocketHandler> logger)
{
    private static readonly string[] s_subProtocols = ["mqtt", "mqttv3.1"];
    private readonly LogThrottle _originLog = new(TimeProvider.System, settings.Broker.Security.RejectionLogInterval);

    public async Task HandleAsync(HttpContext context)
    {
        var wsSettings = settings.Operations.WebSockets;
        if (!string.Equals(context.Request.Path.Value, wsSettings.Path, StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            context.Response.Headers.Upgrade = "websocket";
            await context.Response.WriteAsync($"MQTT over WebSockets: open a WebSocket to {wsSettings.Path} with subprotocol mqtt.\n");
            return;
        }
        var origin = context.Request.Headers.Origin is { Count: > 0 } o ? o.ToString() : null;
        if (!WebSocketOrigin.IsAllowed(origin, context.Request.Host.HasValue ? context.Request.Host.Value : null, wsSettings.AllowedOrigins,
            context.Connection.LocalPort, operations.ManagementEndpoint?.Port))
        {
            // A page of another site: browsers let any page open WebSockets anywhere, so the broker decides (WebSocketOrigin).
            Interlocked.Increment(ref admission.Counters.WebSocketOriginRefused);
            if (_originLog.ShouldLog(out var suppressed))
            {
                ServerLog.WebSocketOriginRefused(logger, context.Connection.RemoteIpAddress, ForLog(origin), suppressed,
                    (int)settings.Broker.Security.RejectionLogInterval.TotalSeconds);
            }
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await context.Response.WriteAsync("WebSocket origin not allowed (WebSockets:AllowedOrigins).\n");
            return;
        }
        var requested = context.WebSockets.WebSocketRequestedProtocols;
        var protocol = s_subProtocols.FirstOrDefault(p => requested.Contains(p, StringComparer.OrdinalIgnoreCase));
        if (protocol is null && requested.Count > 0)
        {
            // [MQTT-6.0.0-3]/[MQTT-6.0.0-4]: the subprotocol is "mqtt"; a client offering only others is refused.
            ServerLog.WebSocketSubprotocolRefused(logger, context.Connection.RemoteIpAddress, Starling.Broker.Security.LogText.Escape(string.Join(", ", requested)));
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("The WebSocket subprotocol must be mqtt.\n");
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = protocol });
        // An MQTT connection now: it leaves the HTTP listeners' share (its socket stays in the total).
        if (context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(Transport.CountingListenerFactory.HttpSlotKey, out var slot) == true)
        {
            (slot as Transport.SocketBudget.Slot)?.Upgraded();
        }
        var remote = context.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, context.Connection.RemotePort) : null;
        var local = context.Connection.LocalIpAddress is { } lip ? new IPEndPoint(lip, context.Connection.LocalPort) : null;
        var info = new ConnectionInfo(context.Connection.Id, remote, local, WebSocketListenerSettings.ListenerName)
        {
            ClientCertificate = context.Connection.ClientCertificate,
        };
        ServerLog.WebSocketAccepted(logger, info.ConnectionId, remote, protocol ?? "none");

        var pipe = new WebSocketPipe(socket, settings.Broker.MaxPacketSize + 64L * 1024);
        // The client going away and the server stopping both abort the request.
        var aborted = context.RequestAborted;
        await admission.ObserveAsync(pipe.RunAsync(transport => admission.Admit(transport, info, aborted), aborted), info, aborted, aborted);
        ServerLog.WebSocketClosed(logger, info.ConnectionId, pipe.CloseCause ?? "closed by the broker");
    }

    /// <summary>A header value for the log: control characters escaped, at most 200 characters (it is the client's text).</summary>
    private static string ForLog(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }
        var text = new System.Text.StringBuilder(Math.Min(value.Length, 200) + 2).Append('"');
        foreach (var ch in value.Length > 200 ? value[..200] : value)
        {
            text.Append(char.IsControl(ch) ? $"\\u{(int)ch:x4}" : ch);
        }
        return text.Append(value.Length > 200 ? "\"..." : "\"").ToString();
    }

    /// <summary>The name of the HTTP listener a request came in on ("ws" or "management"), set by a connection middleware.</summary>
    public static string? ListenerOf(HttpContext context)
        => context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(OperationsRuntime.ListenerItemKey, out var name) == true ? name as string : null;
}
