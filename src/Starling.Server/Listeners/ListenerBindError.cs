using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Starling.Server.Listeners;

/// <summary>A listener that could not be bound, explained: which one, why, and what to change.</summary>
internal static class ListenerBindError
{
    /// <summary>The socket error somewhere in <paramref name="ex"/>'s chain (Kestrel wraps it), or null.</summary>
    public static SocketError? Find(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AddressInUseException:
                    return SocketError.AddressAlreadyInUse;
                case SocketException socket:
                    return socket.SocketErrorCode;
            }
        }
        return null;
    }

    /// <summary>
    /// The message for a failed bind of one of the MQTT TCP <paramref name="listeners"/> (configuration order).
    /// Kestrel has released whatever it bound (and Starling's own listeners are closed): unless the caller knows
    /// which listener failed, find one that cannot be bound by trying each one again.
    /// </summary>
    public static StarlingStartupException Explain(IReadOnlyList<IMqttListener> listeners, IMqttListener? failed, SocketError? error, Exception ex)
    {
        failed ??= listeners.FirstOrDefault(l => !CanBind(l.Configured)) ?? listeners[0];
        var where = $"{failed.Configured} (listener '{failed.Name}')";
        var portHint = ReferenceEquals(failed, listeners[0])
            ? "choose another port with -p PORT (or Listeners:0:Port in the configuration)"
            : $"choose another Port for listener '{failed.Name}' in the configuration";
        var message = error switch
        {
            SocketError.AddressAlreadyInUse =>
                $"Cannot listen on {where}: the address is already in use, probably by another MQTT broker. Stop that process or {portHint}.",
            SocketError.AccessDenied =>
                $"Cannot listen on {where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE). Run with that permission or {portHint}.",
            SocketError.AddressNotAvailable =>
                $"Cannot listen on {where}: the address does not belong to this machine. Use --bind with one of its addresses, 0.0.0.0 or ::.",
            _ => $"Cannot listen on {where}: {ex.InnerException?.Message ?? ex.Message}",
        };
        return new StarlingStartupException(message, ex);
    }

    private static bool CanBind(IPEndPoint endPoint)
    {
        if (endPoint.Port == 0)
        {
            return true;
        }
        try
        {
            using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
