namespace Starling.Server.WebSockets;

/// <summary>
/// Which browser pages may open MQTT WebSockets (WebSockets:AllowedOrigins). Browsers send <c>Origin</c> with every
/// WebSocket handshake and let any page open a WebSocket to any host, so without this check any web page a local
/// user visits could use the broker with that user's network position. Rules, in order:
/// <list type="number">
/// <item>No <c>Origin</c> header: allowed. Non-browser clients (MQTT libraries, tools) do not send one, and a page
/// cannot leave it out.</item>
/// <item>An origin listed in WebSockets:AllowedOrigins (scheme://host[:port], compared without case; <c>*</c> allows
/// every origin): allowed.</item>
/// <item>Same host as the request's <c>Host</c> header, http(s), and the port of the WebSocket listener itself or
/// of the management listener (the dashboard's page): allowed, when that host is an IP address or <c>localhost</c>.
/// A DNS name is not enough: with DNS rebinding, a page of <c>evil.example</c> makes the browser send
/// <c>Origin: http://evil.example:port</c> and <c>Host: evil.example:port</c> to the broker's address, so the Host
/// header proves nothing. Deployments reached by name list their origin in WebSockets:AllowedOrigins.</item>
/// <item>Anything else (another site, <c>null</c> from a sandboxed page or a file): refused with 403.</item>
/// </list>
/// </summary>
internal static class WebSocketOrigin
{
    /// <summary>Whether a handshake with <paramref name="origin"/> (the header's value, null when absent) may proceed.</summary>
    public static bool IsAllowed(string? origin, string? requestHost, IReadOnlyList<string> allowed, int webSocketPort, int? managementPort)
    {
        if (origin is null)
        {
            return true;
        }
        origin = origin.Trim().TrimEnd('/');
        foreach (var entry in allowed)
        {
            if (entry == "*" || string.Equals(entry.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || requestHost is null)
        {
            return false;
        }
        // Host header: "host", "host:port" or "[v6]:port"; only the host part is compared.
        var host = requestHost.StartsWith('[') ? requestHost[..(requestHost.IndexOf(']', StringComparison.Ordinal) + 1)]
            : requestHost.Split(':')[0];
        if (!string.Equals(uri.Host, host, StringComparison.OrdinalIgnoreCase)
            || !(uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || uri.IsLoopback))
        {
            return false;
        }
        return uri.Port == webSocketPort || (managementPort is { } m && uri.Port == m);
    }
}
