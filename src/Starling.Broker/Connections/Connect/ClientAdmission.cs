using Starling.Broker.Security;
using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The last part of CONNECT, once the client is authenticated (plainly or by an enhanced-auth exchange): connection
/// limit, will checks, the session (opened or taken over), the connection's state and CONNACK. One per broker.
/// Order matters: CONNACK is queued before the session is attached, so it precedes every re-sent PUBLISH.
/// </summary>
internal sealed class ClientAdmission(BrokerOptions options, TimeProvider time, BrokerCounters counters, ILogger log,
    ConnectionRegistry registry, SessionRegistry sessions, Security.SecurityRuntime security, Storage.BrokerStorage storage)
{
    /// <summary>
    /// Admits the client or refuses it (CONNACK with the reason, then close). <paramref name="auth"/> carries the
    /// Authentication Method (and final Authentication Data) of an enhanced authentication for the CONNACK.
    /// </summary>
    public void Admit(MqttConnection connection, ConnectPacket connect, string clientId, string? assignedClientId,
        in AuthenticatedClient client, MqttProperties? auth)
    {
        ref var state = ref connection.State;
        var v5 = state.Version == ProtocolVersion.V500;
        var properties = connect.Properties;
        if (options.MaxConnections > 0 && registry.ConnectedCount >= options.MaxConnections)
        {
            connection.Refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, $"connection limit of {options.MaxConnections} reached");
            return;
        }
        if (connect.Will is { } will)
        {
            if (will.QoS > options.MaximumQoS)
            {
                connection.Refuse(v5 ? ReasonCode.QoSNotSupported : ReasonCode.NotAuthorized, $"will QoS {(int)will.QoS} above the server's maximum");
                return;
            }
            if (will.Retain && !options.RetainAvailable)
            {
                connection.Refuse(v5 ? ReasonCode.RetainNotSupported : ReasonCode.NotAuthorized, "retained wills are not supported");
                return;
            }
        }

        var keepAlive = connect.KeepAliveSeconds;
        ushort? serverKeepAlive = null;
        if (options.MaxKeepAliveSeconds > 0 && (keepAlive == 0 || keepAlive > options.MaxKeepAliveSeconds) && v5)
        {
            keepAlive = (ushort)options.MaxKeepAliveSeconds;
            serverKeepAlive = keepAlive;
        }
        var requestedExpiry = v5 ? properties?.SessionExpiryInterval ?? 0 : connect.CleanSession ? 0u : uint.MaxValue;
        var expiry = Math.Min(requestedExpiry, options.MaxSessionExpiryInterval);
        // Built before the session is opened: a CONNACK the client cannot accept [MQTT-3.1.2-24] means closing
        // without it, and then no session may be taken over or created.
        var connAck = BuildConnAck(v5, assignedClientId, serverKeepAlive, expiry, requestedExpiry, clientId, properties, auth);
        if (!connection.Writer.TryFit(connAck))
        {
            connection.Writer.CloseForTooLarge(PacketType.ConnAck, PacketEncoder.GetSize(connAck, state.Version), clientId);
            return;
        }
        connection.Writer.SetOutboundAliasMaximum(options.OutboundTopicAliases && v5 ? properties?.TopicAliasMaximum ?? 0 : 0);
        var sendWindow = Math.Min(options.MaxInflightMessages, properties?.ReceiveMaximum ?? ushort.MaxValue);
        if (expiry > 0 && NeedsNewStoredSession(clientId, connect.CleanSession) && storage.RefuseGrowth("CONNECT", clientId))
        {
            // A new durable session is a row in the store, which is full (Storage:MaxDatabaseSize). v5 0x97 Quota
            // exceeded; 3.1.1 has no such code, 3 Server unavailable is the nearest. A clean session (expiry 0) still connects.
            connection.Refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, "the store is full (Storage:MaxDatabaseSize)");
            return;
        }
        state.KeepAliveSeconds = keepAlive;
        state.Will = connect.Will;
        state.ClientId = clientId;
        state.Authorization = client.Authorization;
        state.AuthenticatedUsername = client.Username;
        state.Credentials = client.Credentials;
        state.ConnectedAtTicks = time.GetUtcNow().UtcTicks;

        // The registry sets the expiry under its gate: it counts persistent sessions per owner.
        var identity = SessionIdentity.Of(connection.Info, client.Username);
        var opening = sessions.Open(clientId, connect.CleanSession, connection, identity, SourceAddress(connection.Info.RemoteEndPoint), expiry,
            identity == SessionIdentity.Anonymous ? OwnerAddress(connection.Info.RemoteEndPoint) : null);
        if (opening.Session is not { } session)
        {
            RefuseOpening(connection, opening.Refusal, clientId, client.Username, v5);
            return;
        }
        var present = opening.Present;
        state.Session = session;
        session.Authorization = client.Authorization;
        connection.MarkConnected();
        Interlocked.Increment(ref counters.ConnectionsAccepted);

        connAck.SessionPresent = present;
        connection.Writer.SendControl(connAck);
        session.Attach(connection, sendWindow);
        ConnectionLog.Connected(log, LogText.Escape(clientId), connection.Info.RemoteEndPoint, VersionName(state.Version),
            expiry == 0 ? "clean" : "persistent", present ? ", resumed" : "", keepAlive);
    }

    private ConnAckPacket BuildConnAck(bool v5, string? assignedClientId, ushort? serverKeepAlive, uint expiry, uint requestedExpiry,
        string clientId, MqttProperties? properties, MqttProperties? auth)
    {
        var connAck = new ConnAckPacket { ReasonCode = ReasonCode.Success };
        if (v5)
        {
            connAck.Properties = new MqttProperties
            {
                AssignedClientIdentifier = assignedClientId,
                ServerKeepAlive = serverKeepAlive,
                TopicAliasMaximum = options.TopicAliasMaximum > 0 ? (ushort)options.TopicAliasMaximum : null,
                ReceiveMaximum = options.ReceiveMaximum < ushort.MaxValue ? (ushort)options.ReceiveMaximum : null,
                MaximumQoS = options.MaximumQoS < QualityOfService.ExactlyOnce ? (byte)options.MaximumQoS : null,
                RetainAvailable = options.RetainAvailable ? null : (byte)0,
                MaximumPacketSize = (uint)options.MaxPacketSize,
                SessionExpiryInterval = expiry != requestedExpiry ? expiry : null,
                ResponseInformation = properties?.RequestResponseInformation == 1 && options.ResponseInformation is { } info
                    ? info.Replace("{clientid}", clientId, StringComparison.OrdinalIgnoreCase)
                    : null,
                AuthenticationMethod = auth?.AuthenticationMethod,
                AuthenticationData = auth?.AuthenticationData,
            };
        }
        return connAck;
    }

    private void RefuseOpening(MqttConnection connection, SessionRefusal refusal, string clientId, string? username, bool v5)
    {
        var remote = connection.Info.RemoteEndPoint;
        if (refusal == SessionRefusal.SessionLimit)
        {
            // Limits:MaxSessions: v5 0x97 Quota exceeded; 3.1.1 has no such code, 0x03 Server unavailable is the nearest.
            connection.Refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, $"session limit of {options.MaxSessions} reached");
            return;
        }
        if (refusal == SessionRefusal.PersistentSessionLimit)
        {
            // Limits:MaxPersistentSessionsPerAddress / PerUser: the same codes; a clean session would be accepted.
            connection.Refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, "persistent session limit of its owner reached");
            return;
        }
        if (refusal == SessionRefusal.NotOwner)
        {
            // Not the session's owner: 0x87 Not authorized / 5 (3.1.1), and the owner's connection and session stay.
            Interlocked.Increment(ref security.Counters.SessionOwnerMismatch);
            security.Log.Write(Security.RejectionCause.SessionOwnerMismatch,
                $"CONNECT of client '{clientId}' (user '{username}', {remote}) refused: its session belongs to another identity (Auth:SessionOwnership)");
            connection.Refuse(ReasonCode.NotAuthorized, "the client id's session belongs to another identity");
            return;
        }
        // 0x9F Connection rate exceeded (v5) / 3 Server unavailable (3.1.1): the holder of the id stays connected.
        Interlocked.Increment(ref security.Counters.TakeoverRateExceeded);
        security.Log.Write(Security.RejectionCause.TakeoverRate,
            $"CONNECT of client '{clientId}' (user '{username}', {remote}) refused: the client id was taken over {options.Security.MaxTakeoversPerMinute} times within a minute (Limits:MaxTakeoversPerMinute)");
        connection.Refuse(v5 ? ReasonCode.ConnectionRateExceeded : ReasonCode.ServerUnavailable, "client id taken over too often");
    }

    /// <summary>
    /// Whether opening this session would add a session to the store: anything but resuming an unexpired durable one
    /// (a takeover by another identity that replaces it is not foreseen here; it is rare and bounded by the takeover limit).
    /// </summary>
    private bool NeedsNewStoredSession(string clientId, bool cleanStart)
        => cleanStart || sessions.Find(clientId) is not { ExpiryInterval: > 0 } existing || existing.IsExpired(time.GetTimestamp());

    /// <summary>
    /// The remote IP address (without port) that the takeover throttle counts per client id, and that persistent
    /// sessions of anonymous clients are counted under (Limits:MaxPersistentSessionsPerAddress).
    /// </summary>
    private static string SourceAddress(System.Net.EndPoint? remote)
        => remote is System.Net.IPEndPoint ip ? ip.Address.ToString() : remote?.ToString() ?? "";

    /// <summary>
    /// The address persistent sessions of anonymous clients are counted under: an IPv4 address (also when it reaches
    /// a dual-stack listener as ::ffff:a.b.c.d), or an IPv6 address's /64 prefix ("2001:db8:1:2::/64"): one host or
    /// customer line commonly holds a whole /64, so counting single IPv6 addresses would count nothing.
    /// </summary>
    internal static string OwnerAddress(System.Net.EndPoint? remote)
    {
        if (remote is not System.Net.IPEndPoint { Address: var address })
        {
            return remote?.ToString() ?? "";
        }
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new System.Net.IPAddress(bytes).ToString() + "/64";
    }

    private static string VersionName(ProtocolVersion v) => v switch
    {
        ProtocolVersion.V310 => "3.1",
        ProtocolVersion.V311 => "3.1.1",
        ProtocolVersion.V500 => "5.0",
        _ => "?",
    };
}
