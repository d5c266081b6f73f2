using Starling.Broker;

namespace Starling.Server;

/// <summary>Everything the host needs, read and checked from configuration.</summary>
internal sealed class ServerSettings
{
    public required IReadOnlyList<ListenerSettings> Listeners { get; init; }
    public required BrokerOptions Broker { get; init; }
    public Starling.Server.Security.SecuritySettings Security { get; init; } = new();
    public StorageSettings Storage { get; init; } = StorageSettings.Default;
    public Starling.Server.Management.OperationsSettings Operations { get; init; } = new();

    /// <summary>Limits:MaxOpenConnections was not configured: set it from the open-file limit (OpenFileLimit).</summary>
    public bool MaxOpenConnectionsFromFileLimit { get; init; }

    /// <summary>Limits:MaxHttpConnections; null when not configured (a quarter of MaxOpenConnections, <see cref="Transport.SocketBudget.HttpLimit"/>).</summary>
    public int? MaxHttpConnections { get; init; }
}
