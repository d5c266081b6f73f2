using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Starling.Broker;
using ConnectionInfo = Starling.Broker.ConnectionInfo;

namespace Starling.Server;

/// <summary>Set on each connection by the listener's middleware so the handler knows which listener accepted it.</summary>
internal sealed record MqttListenerFeature(string Name);

/// <summary>
/// Kestrel's entry point for one MQTT connection: hands the transport pipe to the broker and waits until the broker
/// is done with it. Kestrel closes the socket when this returns.
/// </summary>
internal sealed class MqttConnectionHandler(BrokerService brokerService, ILogger<MqttConnectionHandler> logger) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var listener = connection.Features.Get<MqttListenerFeature>()?.Name ?? "tcp";
        var info = new ConnectionInfo(connection.ConnectionId, connection.RemoteEndPoint, connection.LocalEndPoint, listener);
        info = Security.SecurityHost.WithCertificate(connection, info);
        logger.LogDebug("Connection {ConnectionId} from {RemoteEndPoint} on listener {Listener}", info.ConnectionId, info.RemoteEndPoint, listener);
        // Not connection.ConnectionClosed: Kestrel fires it as soon as the peer's FIN arrives, while the last packets
        // (typically DISCONNECT) may still be unread in the pipe, and a broker that stops on that token would then
        // miss the DISCONNECT and publish the will (seen in ~3% of quick pub-and-disconnect runs). The end of the
        // connection reaches the broker through the pipe anyway (completed input; aborted pipes on Kestrel's abort).
        // What this token means is "the server wants this connection closed" (Kestrel's graceful shutdown).
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? CancellationToken.None;
        try
        {
            await brokerService.Broker.RunConnectionAsync(connection.Transport, info, closeRequested);
        }
        catch (OperationCanceledException) when (closeRequested.IsCancellationRequested || connection.ConnectionClosed.IsCancellationRequested)
        {
            // The peer went away or Kestrel aborted the connection at shutdown: nothing to report.
        }
        catch (Exception ex)
        {
            // The broker promises not to throw for client or I/O faults, so this is a bug: log it once, keep serving others.
            logger.LogError(ex, "Connection {ConnectionId} from {RemoteEndPoint} on listener {Listener} failed: {Message}",
                info.ConnectionId, info.RemoteEndPoint, listener, ex.Message);
        }
        logger.LogDebug("Connection {ConnectionId} closed", info.ConnectionId);
    }
}
