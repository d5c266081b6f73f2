using Microsoft.Extensions.Logging;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// What every connection of one broker shares, built once by <see cref="MqttBroker"/> and immutable: one reference per
/// connection instead of one field per service (idle-connection memory). <see cref="MqttConnection"/> uses all of it;
/// <see cref="ConnectionWriter"/> reads only <see cref="Options"/>, <see cref="Time"/>, <see cref="Counters"/>,
/// <see cref="Log"/> and <see cref="PacketSize"/>. The handlers take their own dependencies in their constructors.
/// </summary>
internal sealed class ConnectionServices(
    BrokerOptions options,
    TimeProvider time,
    BrokerCounters counters,
    ILogger log,
    ConnectionRegistry registry,
    SecurityRuntime security,
    SessionRelease sessionRelease,
    ConnectHandler connect,
    EnhancedAuthHandler enhancedAuth,
    PublishHandler publish,
    SubscribeHandler subscribe,
    PacketSizeGuard packetSize,
    LimitLog limits)
{
    public BrokerOptions Options { get; } = options;
    public TimeProvider Time { get; } = time;
    public BrokerCounters Counters { get; } = counters;

    /// <summary>The "Starling.Broker.Connection" logger (<see cref="ConnectionLog"/>).</summary>
    public ILogger Log { get; } = log;

    /// <summary>Open connections and the broker's connection counts.</summary>
    public ConnectionRegistry Registry { get; } = registry;

    /// <summary>Transport admission (connection limits) and its release.</summary>
    public SecurityRuntime Security { get; } = security;

    /// <summary>The session and will part of a connection's end.</summary>
    public SessionRelease SessionRelease { get; } = sessionRelease;

    public ConnectHandler Connect { get; } = connect;
    public EnhancedAuthHandler EnhancedAuth { get; } = enhancedAuth;
    public PublishHandler Publish { get; } = publish;
    public SubscribeHandler Subscribe { get; } = subscribe;

    /// <summary>The client's Maximum Packet Size for packets other than PUBLISH: counter and rate-limited log.</summary>
    public PacketSizeGuard PacketSize { get; } = packetSize;

    /// <summary>The rate-limited "a limit was hit" log (Limits:MaxUserPropertyBytes is the connection's own).</summary>
    public LimitLog Limits { get; } = limits;
}
