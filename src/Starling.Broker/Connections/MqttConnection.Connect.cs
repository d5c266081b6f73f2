using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker;

internal sealed partial class MqttConnection
{
    private void HandleConnect(ConnectPacket connect)
    {
        _version = connect.ProtocolVersion;
        var v5 = _version == ProtocolVersion.V500;
        var options = _broker.Options;
        var properties = connect.Properties;

        if (_broker.Stopping)
        {
            Refuse(v5 ? ReasonCode.ServerShuttingDown : ReasonCode.ServerUnavailable, "server is shutting down");
            return;
        }
        if (options.ServerReference is { } reference)
        {
            Refuse(v5 ? options.ServerMoved ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer : ReasonCode.ServerUnavailable,
                $"redirected to {reference}", v5 ? new MqttProperties { ServerReference = reference } : null);
            return;
        }
        var clientId = connect.ClientId;
        string? assignedClientId = null;
        if (clientId.Length == 0)
        {
            // A zero-length id needs clean session in 3.1.1 [MQTT-3.1.3-7/8]; 3.1 requires 1 to 23 characters; v5 allows
            // it with either Clean Start and gets an Assigned Client Identifier [MQTT-3.1.3-6], [MQTT-3.2.2-16].
            if (_version == ProtocolVersion.V310 || (!v5 && !connect.CleanSession) || !options.AllowZeroLengthClientId)
            {
                Refuse(ReasonCode.ClientIdentifierNotValid, "zero-length client id without clean session");
                return;
            }
            clientId = assignedClientId = "auto-" + Guid.NewGuid().ToString("N");
        }
        if (clientId.Length > (_version == ProtocolVersion.V310 ? 23 : options.MaxClientIdLength))
        {
            Refuse(ReasonCode.ClientIdentifierNotValid, $"client id longer than {(_version == ProtocolVersion.V310 ? 23 : options.MaxClientIdLength)} characters");
            return;
        }
        if (v5 && properties?.AuthenticationMethod is { } method)
        {
            // Enhanced authentication [MQTT-4.12]: an unknown method gets 0x8C; a known one runs its AUTH exchange,
            // which calls CompleteConnect when it succeeds.
            BeginEnhancedAuth(connect, clientId, assignedClientId, method);
            return;
        }
        if (!AuthenticateConnect(connect, clientId))
        {
            return;
        }
        CompleteConnect(connect, clientId, assignedClientId, null);
    }

    /// <summary>
    /// The rest of CONNECT once the client is authenticated: limits, will checks, session, CONNACK. <paramref name="auth"/>
    /// carries the Authentication Method (and final Authentication Data) of an enhanced authentication for the CONNACK.
    /// </summary>
    private void CompleteConnect(ConnectPacket connect, string clientId, string? assignedClientId, MqttProperties? auth)
    {
        var v5 = _version == ProtocolVersion.V500;
        var options = _broker.Options;
        var properties = connect.Properties;
        if (options.MaxConnections > 0 && _broker.ConnectedCount >= options.MaxConnections)
        {
            Refuse(v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, $"connection limit of {options.MaxConnections} reached");
            return;
        }
        if (connect.Will is { } will)
        {
            if (will.QoS > options.MaximumQoS)
            {
                Refuse(v5 ? ReasonCode.QoSNotSupported : ReasonCode.NotAuthorized, $"will QoS {(int)will.QoS} above the server's maximum");
                return;
            }
            if (will.Retain && !options.RetainAvailable)
            {
                Refuse(v5 ? ReasonCode.RetainNotSupported : ReasonCode.NotAuthorized, "retained wills are not supported");
                return;
            }
        }

        _keepAliveSeconds = connect.KeepAliveSeconds;
        ushort? serverKeepAlive = null;
        if (options.MaxKeepAliveSeconds > 0 && (_keepAliveSeconds == 0 || _keepAliveSeconds > options.MaxKeepAliveSeconds) && v5)
        {
            _keepAliveSeconds = (ushort)options.MaxKeepAliveSeconds;
            serverKeepAlive = _keepAliveSeconds;
        }
        var requestedExpiry = v5 ? properties?.SessionExpiryInterval ?? 0 : connect.CleanSession ? 0u : uint.MaxValue;
        var expiry = Math.Min(requestedExpiry, options.MaxSessionExpiryInterval);
        _clientMaxPacketSize = properties?.MaximumPacketSize ?? uint.MaxValue;
        _outboundAliasMaximum = options.OutboundTopicAliases && v5 ? properties?.TopicAliasMaximum ?? 0 : 0;
        var sendWindow = Math.Min(options.MaxInflightMessages, properties?.ReceiveMaximum ?? ushort.MaxValue);
        _will = connect.Will;
        _clientId = clientId;
        _connectedAtTicks = _broker.Time.GetUtcNow().UtcTicks;

        var (session, present) = _broker.Sessions.Open(clientId, connect.CleanSession, this);
        session.ExpiryInterval = expiry;
        _session = session;
        session.Authorization = _authorization;
        _connected = true;
        _broker.OnConnected();
        Interlocked.Increment(ref _broker.Counters.ConnectionsAccepted);

        var connAck = new ConnAckPacket { SessionPresent = present, ReasonCode = ReasonCode.Success };
        if (v5)
        {
            var p = new MqttProperties
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
            connAck.Properties = p;
        }
        SendControl(connAck);
        session.Attach(this, sendWindow);
        _log.LogInformation("Client {ClientId} connected from {Remote} (MQTT {Version}, {Kind} session{Present}, keep-alive {KeepAlive} s)",
            clientId, _info.RemoteEndPoint, VersionName(_version), expiry == 0 ? "clean" : "persistent", present ? ", resumed" : "", _keepAliveSeconds);
    }

    /// <summary>CONNACK with a failure code, then close [MQTT-3.2.2-5]; the session is not touched.</summary>
    private void Refuse(ReasonCode reason, string why, MqttProperties? properties = null)
    {
        Interlocked.Increment(ref _broker.Counters.ConnectionsRefused);
        _log.LogInformation("Connection from {Remote} refused (0x{Code:X2}): {Why}", _info.RemoteEndPoint, (byte)reason, why);
        _finalPacket = new ConnAckPacket { SessionPresent = false, ReasonCode = reason, Properties = properties };
        Abort(null, "CONNECT refused: " + why);
    }

    private static string VersionName(ProtocolVersion v) => v switch
    {
        ProtocolVersion.V310 => "3.1",
        ProtocolVersion.V311 => "3.1.1",
        ProtocolVersion.V500 => "5.0",
        _ => "?",
    };
}
