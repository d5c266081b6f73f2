using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// What the packet handlers (<see cref="ConnectHandler"/>, <see cref="PublishHandler"/>, <see cref="SubscribeHandler"/>,
/// <see cref="EnhancedAuthHandler"/>) read and change about one connection: its protocol version, the admitted client
/// and the read loop's per-connection caches. A struct held inline by <see cref="MqttConnection"/> (no object of its
/// own: idle-connection memory, docs/performance.md finding 2) and handed to the handlers by reference.
/// Threading: written only by the connection's read loop; other threads read the reference-typed fields (client id,
/// username, session) for management views, which see either the old or the new value.
/// </summary>
internal struct ConnectionState
{
    /// <summary>The CONNECT's protocol version (Unknown before CONNECT).</summary>
    public ProtocolVersion Version;

    /// <summary>The client id (assigned by the broker for an empty one); empty before CONNACK.</summary>
    public string ClientId;

    /// <summary>The session, once CONNACK accepted the client.</summary>
    public Session? Session;

    /// <summary>The CONNECT's will, published when the connection ends without DISCONNECT.</summary>
    public WillMessage? Will;

    /// <summary>The keep-alive in force (the client's, or the server's override for v5).</summary>
    public ushort KeepAliveSeconds;

    /// <summary>Set by DISCONNECT: the will is discarded (except for reason 0x04).</summary>
    public bool DisconnectReceived;

    /// <summary>The client's permissions (null: everything allowed); set at CONNECT, replaced by a re-authentication.</summary>
    public IClientAuthorization? Authorization;

    /// <summary>Set by authentication, shown as Username once connected (one field for both: idle-connection memory).</summary>
    public string? AuthenticatedUsername;

    /// <summary>How an authenticator accepted the client (expiry, revocation); null without one.</summary>
    public Credentials? Credentials;

    /// <summary>UTC ticks of CONNACK, 0 before: 8 bytes per connection where a DateTimeOffset? takes 24.</summary>
    public long ConnectedAtTicks;

    /// <summary>Null without enhanced authentication (nearly always); once set, it stays for the connection's life.</summary>
    public EnhancedAuthState? EnhancedAuth;

    /// <summary>What only a publishing client needs (aliases, caches, rate bucket); created by its first PUBLISH.</summary>
    public PublisherState? Publisher;
}
