using System.Net;

namespace Starling.Server;

/// <summary>One TCP listener: name for logs, address and port to bind.</summary>
public sealed record ListenerSettings(string Name, IPAddress Address, int Port)
{
    /// <summary>
    /// Kestrel's socket transport and connection handler instead of Starling's own transport for a plain TCP listener
    /// (<c>"Transport": "kestrel"</c>). Starling's transport holds about a third of the memory per idle connection; it
    /// needs Linux x64, and Kestrel is used wherever it is not available and for TLS listeners.
    /// </summary>
    public bool UseKestrel { get; init; }

    /// <summary>"127.0.0.1:1883" or "[::]:1883".</summary>
    public override string ToString() => new IPEndPoint(Address, Port).ToString();
}
