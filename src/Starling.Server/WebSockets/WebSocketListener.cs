using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Starling.Server.Listeners;
using Starling.Server.Management;

namespace Starling.Server.WebSockets;

/// <summary>
/// MQTT over WebSockets (WebSockets:*): a Kestrel HTTP/1.1 endpoint (wss:// with WebSockets:Tls) whose connections are
/// tagged "ws"; the host's HTTP pipeline sends their upgrade requests to <see cref="MqttWebSocketHandler"/>, which
/// hands each WebSocket to the <see cref="ConnectionAdmission"/> like any other MQTT transport.
/// </summary>
internal sealed class WebSocketListener(WebSocketListenerSettings settings) : IMqttListener
{
    private ListenOptions? _listen;

    public string Name => WebSocketListenerSettings.ListenerName;

    public string Transport => "websocket";

    public bool UsesKestrel => true;

    public IPEndPoint Configured { get; } = new(settings.Address, settings.Port);

    public IPEndPoint EndPoint => _listen?.IPEndPoint ?? Configured;

    /// <summary>Whether the listener has been bound (Kestrel started).</summary>
    public bool IsBound => _listen?.IPEndPoint is not null;

    public void Configure(KestrelServerOptions kestrel, ConnectionAdmission admission)
        => kestrel.Listen(settings.Address, settings.Port, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            // First: the socket's slot, and a slot of the HTTP share until the upgrade (MqttWebSocketHandler).
            Starling.Server.Transport.CountingListenerFactory.Count(listen, admission.Sockets, WebSocketListenerSettings.ListenerName);
            OperationsHttp.Tag(listen, WebSocketListenerSettings.ListenerName);
            settings.Tls?.Configure(listen);
            _listen = listen;
        });

    public void Bind(ConnectionAdmission admission)
    {
        // Kestrel binds when the host starts.
    }

    public void Start()
    {
        // Kestrel accepts once the host has started.
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // Kestrel closes its listeners when the host stops
}
