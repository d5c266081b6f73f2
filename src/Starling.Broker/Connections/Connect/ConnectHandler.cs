using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// CONNECT and DISCONNECT of a connection. CONNECT: shutdown and redirection, client id rules, then either the enhanced
/// authentication exchange (<see cref="EnhancedAuthHandler"/>, which admits the client when it succeeds) or plain
/// authentication (<see cref="ClientAuthenticator"/>), then <see cref="ClientAdmission"/>. One per broker; runs on the
/// connection's read loop. A refusal is answered on the connection (CONNACK with the reason, then close).
/// </summary>
internal sealed class ConnectHandler(BrokerOptions options, ConnectionRegistry registry, SessionRegistry sessions,
    ClientAuthenticator authenticator, EnhancedAuthHandler enhancedAuth, ClientAdmission admission)
{
    public void Handle(MqttConnection connection, ConnectPacket connect)
    {
        ref var state = ref connection.State;
        state.Version = connect.ProtocolVersion;
        var version = state.Version;
        var v5 = version == ProtocolVersion.V500;
        var properties = connect.Properties;
        if (v5 && properties?.MaximumPacketSize is uint maximumPacketSize)
        {
            // From here on every packet to the client must fit, a refusing CONNACK included [MQTT-3.1.2-24].
            connection.Writer.SetClientMaximumPacketSize(maximumPacketSize);
        }

        if (registry.Stopping)
        {
            connection.Refuse(v5 ? ReasonCode.ServerShuttingDown : ReasonCode.ServerUnavailable, "server is shutting down");
            return;
        }
        if (options.ServerReference is { } reference)
        {
            connection.Refuse(v5 ? options.ServerMoved ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer : ReasonCode.ServerUnavailable,
                $"redirected to {reference}", v5 ? new MqttProperties { ServerReference = reference } : null);
            return;
        }
        var clientId = connect.ClientId;
        string? assignedClientId = null;
        if (clientId.Length == 0)
        {
            // A zero-length id needs clean session in 3.1.1 [MQTT-3.1.3-7/8]; 3.1 requires 1 to 23 characters; v5 allows
            // it with either Clean Start and gets an Assigned Client Identifier [MQTT-3.1.3-6], [MQTT-3.2.2-16].
            if (version == ProtocolVersion.V310 || (!v5 && !connect.CleanSession) || !options.AllowZeroLengthClientId)
            {
                connection.Refuse(ReasonCode.ClientIdentifierNotValid, "zero-length client id without clean session");
                return;
            }
            clientId = assignedClientId = "auto-" + Guid.NewGuid().ToString("N");
        }
        if (clientId.Length > (version == ProtocolVersion.V310 ? 23 : options.MaxClientIdLength))
        {
            connection.Refuse(ReasonCode.ClientIdentifierNotValid, $"client id longer than {(version == ProtocolVersion.V310 ? 23 : options.MaxClientIdLength)} characters");
            return;
        }
        if (v5 && properties?.AuthenticationMethod is { } method)
        {
            // Enhanced authentication [MQTT-4.12]: an unknown method gets 0x8C; a known one runs its AUTH exchange,
            // which admits the client when it succeeds.
            enhancedAuth.Begin(connection, connect, clientId, assignedClientId, method);
            return;
        }
        if (authenticator.Authenticate(connection, connect, clientId) is not { } client)
        {
            return;
        }
        admission.Admit(connection, connect, clientId, assignedClientId, client, null);
    }

    public void HandleDisconnect(MqttConnection connection, DisconnectPacket disconnect)
    {
        ref var state = ref connection.State;
        // DISCONNECT discards the will [MQTT-3.14.4-3], except v5 reason 0x04 which asks for it.
        state.DisconnectReceived = disconnect.ReasonCode != ReasonCode.DisconnectWithWillMessage;
        if (state.Version == ProtocolVersion.V500 && disconnect.Properties?.SessionExpiryInterval is uint expiry && state.Session is { } session)
        {
            if (session.ExpiryInterval == 0 && expiry != 0)
            {
                // [MQTT-3.14.2-2]: may not turn a connection-scoped session into a persistent one.
                state.DisconnectReceived = false;
                throw new MqttProtocolException(ReasonCode.ProtocolError, "Session Expiry Interval set on DISCONNECT after 0 in CONNECT");
            }
            // Through the registry: it counts persistent sessions per owner (Limits:MaxPersistentSessionsPerAddress).
            sessions.SetExpiry(session, Math.Min(expiry, options.MaxSessionExpiryInterval));
        }
        connection.Abort(null, disconnect.ReasonCode == ReasonCode.DisconnectWithWillMessage ? "DISCONNECT with will" : "DISCONNECT");
    }
}
