using Starling.Server.Transport;
using Starling.Server.WebSockets;

namespace Starling.Server.Listeners;

/// <summary>Turns the configured listeners into <see cref="IMqttListener"/>s: the one place that picks a transport.</summary>
internal static class MqttListenerList
{
    /// <summary>
    /// One listener per configured TCP listener, in configuration order (TLS ones and <c>"Transport": "kestrel"</c> on
    /// Kestrel, the others on Starling's own transport with <paramref name="poller"/>), then the WebSocket listener
    /// when WebSockets are enabled. Nothing is bound yet.
    /// </summary>
    public static List<IMqttListener> Create(ServerSettings settings, ReadinessPoller poller)
    {
        var listeners = new List<IMqttListener>();
        foreach (var listener in settings.Listeners)
        {
            var tls = settings.Security.Tls.GetValueOrDefault(listener.Name);
            listeners.Add(tls is null && !listener.UseKestrel
                ? new SocketListener(listener, poller)
                : new KestrelListener(listener, tls));
        }
        if (settings.Operations.WebSockets is { Enabled: true } webSockets)
        {
            listeners.Add(new WebSocketListener(webSockets));
        }
        return listeners;
    }

    /// <summary>The MQTT over TCP listeners (TLS included), in configuration order: the WebSocket listener aside.</summary>
    public static List<IMqttListener> Tcp(IEnumerable<IMqttListener> listeners) => [.. listeners.Where(l => l is not WebSocketListener)];

    /// <summary>Disposes each listener (stops accepting); connections already accepted are the broker's.</summary>
    public static async Task DisposeAllAsync(IEnumerable<IMqttListener> listeners)
    {
        foreach (var listener in listeners)
        {
            await listener.DisposeAsync();
        }
    }
}
