using Starling.Broker.Security;

namespace Starling.Broker;

public sealed partial class MqttBroker
{
    /// <summary>Refusals by cause since start (authentication, authorization, limits).</summary>
    public SecurityCounters SecurityCounters => _security.Counters;

    /// <summary>Connections that have not completed CONNECT yet.</summary>
    public int PendingConnections => _security.PendingConnections;
}
