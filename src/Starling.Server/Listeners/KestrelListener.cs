using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Starling.Server.Tls;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server.Listeners;

/// <summary>
/// An MQTT listener served by Kestrel's socket transport: every TLS listener (Kestrel's TLS middleware), and plain TCP
/// ones configured with <c>"Transport": "kestrel"</c> or on platforms without Starling's own transport. Each
/// connection is handed to the <see cref="ConnectionAdmission"/> and awaited: Kestrel closes the socket when the
/// connection delegate returns.
/// </summary>
internal sealed class KestrelListener(ListenerSettings settings, TlsListener? tls) : IMqttListener
{
    private ListenOptions? _listen;

    public string Name => settings.Name;

    public string Transport => "kestrel";

    public bool UsesKestrel => true;

    public IPEndPoint Configured { get; } = new(settings.Address, settings.Port);

    public IPEndPoint EndPoint => _listen?.IPEndPoint ?? Configured;

    public void Configure(KestrelServerOptions kestrel, ConnectionAdmission admission)
        => kestrel.Listen(settings.Address, settings.Port, listen =>
        {
            // First: the socket's slot (taken at accept) is given back when the connection ends.
            Starling.Server.Transport.CountingListenerFactory.Count(listen, admission.Sockets, httpListener: null);
            tls?.Configure(listen);
            listen.Run(connection => RunAsync(connection, admission));
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

    private Task RunAsync(ConnectionContext connection, ConnectionAdmission admission)
    {
        var info = new ConnectionInfo(connection.ConnectionId, connection.RemoteEndPoint, connection.LocalEndPoint, settings.Name);
        info = Security.SecurityHost.WithCertificate(connection, info);
        // Not connection.ConnectionClosed: Kestrel fires it as soon as the peer's FIN arrives, while the last packets
        // (typically DISCONNECT) may still be unread in the pipe, and a broker that stops on that token would then
        // miss the DISCONNECT and publish the will (seen in ~3% of quick pub-and-disconnect runs). The end of the
        // connection reaches the broker through the pipe anyway (completed input; aborted pipes on Kestrel's abort).
        // What this token means is "the server wants this connection closed" (Kestrel's graceful shutdown).
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        return admission.ObserveAsync(admission.Admit(connection.Transport, info, closeRequested), info, closeRequested, connection.ConnectionClosed);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // Kestrel closes its listeners when the host stops
}
