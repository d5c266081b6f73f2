using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Starling.Server.Listeners;

/// <summary>
/// One MQTT listener, whatever carries it: Starling's own TCP transport (<see cref="Transport.SocketListener"/>),
/// Kestrel for TLS or <c>"Transport": "kestrel"</c> (<see cref="KestrelListener"/>), or MQTT over WebSockets
/// (<see cref="WebSockets.WebSocketListener"/>). Every one hands its connections to the server's
/// <see cref="ConnectionAdmission"/>. The start-up walks the list through the same steps, in this order:
/// <see cref="Configure"/> (while Kestrel's options are built), <see cref="Bind"/> (before Kestrel starts, so a port
/// in use is reported per listener), <see cref="Start"/> (after every listener is bound), then
/// <see cref="IAsyncDisposable.DisposeAsync"/> when the server stops (connections already accepted are the broker's).
/// </summary>
internal interface IMqttListener : IAsyncDisposable
{
    /// <summary>The listener's name in logs, in the management API and in <c>ConnectionInfo.ListenerName</c>.</summary>
    string Name { get; }

    /// <summary>"starling" (Starling's own transport), "kestrel" or "websocket".</summary>
    string Transport { get; }

    /// <summary>Whether Kestrel serves this listener (then the host needs a Kestrel server with endpoints).</summary>
    bool UsesKestrel { get; }

    /// <summary>The end point asked for in the configuration (port 0: any free one).</summary>
    IPEndPoint Configured { get; }

    /// <summary>The end point actually bound (a port asked as 0 reads back as the one the OS chose); <see cref="Configured"/> before.</summary>
    IPEndPoint EndPoint { get; }

    /// <summary>Adds the listener's endpoint to Kestrel if Kestrel serves it; may be called more than once.</summary>
    void Configure(KestrelServerOptions kestrel, ConnectionAdmission admission);

    /// <summary>Binds what Kestrel does not bind; throws <see cref="System.Net.Sockets.SocketException"/> when the port cannot be had.</summary>
    void Bind(ConnectionAdmission admission);

    /// <summary>Starts accepting connections (Kestrel-served listeners accept once Kestrel has started).</summary>
    void Start();
}
