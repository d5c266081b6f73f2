namespace Starling.Server.Transport;

/// <summary>
/// Refusals decided by the server before a connection reaches the broker (the broker's own are in
/// <see cref="Starling.Broker.Security.SecurityCounters"/>); incremented with <see cref="Interlocked"/>, exported in
/// /metrics as causes of <c>starling_security_rejections_total</c>. One per server, owned by the ConnectionAdmission.
/// </summary>
internal sealed class ServerCounters
{
#pragma warning disable CA1051 // Public fields: Interlocked needs a ref to the field itself.
    /// <summary>Sockets of the HTTP listeners closed because Limits:MaxHttpConnections were open.</summary>
    public long HttpConnectionsExceeded;

    /// <summary>WebSocket upgrades refused (403) for an Origin that is not allowed (WebSockets:AllowedOrigins).</summary>
    public long WebSocketOriginRefused;
#pragma warning restore CA1051
}
