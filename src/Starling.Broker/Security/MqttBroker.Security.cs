using Starling.Broker.Security;

namespace Starling.Broker;

public sealed partial class MqttBroker
{
    /// <summary>Refusals by cause since start (authentication, authorization, limits).</summary>
    public SecurityCounters SecurityCounters => _context.Security.Counters;

    /// <summary>Connections that have not completed CONNECT yet.</summary>
    public int PendingConnections => _context.Security.PendingConnections;
}
