using Microsoft.Extensions.Logging;
using Starling.Broker.Security;
using Starling.Broker.Security.EnhancedAuth;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// MQTT 5 enhanced authentication (spec 4.12, AUTH 3.15): the AUTH exchange after a CONNECT with an Authentication
/// Method, and re-authentication (AUTH 0x19) after CONNACK. Touched only by the read loop.
/// </summary>
internal sealed partial class MqttConnection
{
    // Null on a connection without enhanced authentication (nearly all of them): the state of the exchange lives in
    // one object that a CONNECT with a known Authentication Method creates, so an idle connection does not carry six
    // empty fields (docs/performance.md, finding 2). Once set, it stays for the connection's life (re-authentication).
    private EnhancedAuthState? _enhancedAuth;

    /// <summary>Between a CONNECT with a known Authentication Method and its CONNACK.</summary>
    private bool AuthenticatingBeforeConnAck => _enhancedAuth?.PendingConnect is not null && !_connected;

    /// <summary>Enhanced authentication of one connection; touched only by its read loop.</summary>
    private sealed class EnhancedAuthState(string method, IEnhancedAuthenticator authenticator)
    {
        /// <summary>The CONNECT's Authentication Method; every AUTH must name the same one.</summary>
        public string Method { get; } = method;

        public IEnhancedAuthenticator Authenticator { get; } = authenticator;

        /// <summary>The exchange in progress (before CONNACK, or a re-authentication); null between exchanges.</summary>
        public IEnhancedAuthSession? Exchange;

        /// <summary>The CONNECT waiting for its exchange to end (null after CONNACK), with its client id (assigned or not).</summary>
        public ConnectPacket? PendingConnect;
        public string PendingClientId = "";
        public string? PendingAssignedClientId;
    }

    /// <summary>
    /// Whether a packet of <paramref name="type"/> may arrive before CONNACK: CONNECT first; while an enhanced
    /// authentication runs, only AUTH and DISCONNECT [MQTT-3.1.2-30] (anything else is a protocol error).
    /// </summary>
    private bool AcceptedBeforeConnAck(PacketType type)
    {
        if (!AuthenticatingBeforeConnAck)
        {
            return type == PacketType.Connect;
        }
        if (type is PacketType.Auth or PacketType.Disconnect)
        {
            return true;
        }
        throw new MqttProtocolException(ReasonCode.ProtocolError,
            $"{type} during enhanced authentication: only AUTH or DISCONNECT may come before CONNACK [MQTT-3.1.2-30]");
    }

    /// <summary>CONNECT with an Authentication Method: 0x8C when no authenticator has it, else the first step of the exchange.</summary>
    private void BeginEnhancedAuth(ConnectPacket connect, string clientId, string? assignedClientId, string method)
    {
        if (!CheckOverload())
        {
            return;
        }
        IEnhancedAuthenticator? authenticator = null;
        foreach (var candidate in Security.Options.EnhancedAuthenticators)
        {
            if (string.Equals(candidate.Method, method, StringComparison.Ordinal))
            {
                authenticator = candidate;
                break;
            }
        }
        if (authenticator is null)
        {
            // [MQTT-4.12.0-1]
            Refuse(ReasonCode.BadAuthenticationMethod, $"authentication method '{method}' is not supported");
            return;
        }
        var state = _enhancedAuth = new EnhancedAuthState(method, authenticator)
        {
            PendingConnect = connect,
            PendingClientId = clientId,
            PendingAssignedClientId = assignedClientId,
        };
        state.Exchange = authenticator.Start(new EnhancedAuthContext(clientId, connect.Username, _info.RemoteEndPoint, _info.ListenerName,
            IsReauthentication: false, CurrentUsername: null));
        StepBeforeConnAck(connect.Properties?.AuthenticationData ?? []);
    }

    /// <summary>An AUTH from the client: the next step of the exchange in progress, or the start of a re-authentication.</summary>
    private void HandleAuth(AuthPacket auth)
    {
        if (_enhancedAuth is not { } state)
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError, "AUTH without an authentication method in CONNECT [MQTT-4.12.0-7]");
        }
        if (!string.Equals(auth.Properties?.AuthenticationMethod, state.Method, StringComparison.Ordinal))
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError,
                $"AUTH with Authentication Method '{auth.Properties?.AuthenticationMethod}', not the CONNECT's '{state.Method}' [MQTT-4.12.0-5]");
        }
        var data = auth.Properties?.AuthenticationData ?? [];
        if (!_connected)
        {
            if (auth.ReasonCode != ReasonCode.ContinueAuthentication || state.Exchange is null)
            {
                throw new MqttProtocolException(ReasonCode.ProtocolError,
                    $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} before CONNACK: only 0x18 Continue authentication [MQTT-4.12.0-3]");
            }
            StepBeforeConnAck(data);
            return;
        }
        if (auth.ReasonCode == ReasonCode.ReAuthenticate && state.Exchange is null)
        {
            // [MQTT-4.12.1-1]: same method as in CONNECT (checked above); a new exchange.
            state.Exchange = state.Authenticator.Start(new EnhancedAuthContext(_clientId, null, _info.RemoteEndPoint, _info.ListenerName,
                IsReauthentication: true, CurrentUsername: Username));
        }
        else if (auth.ReasonCode != ReasonCode.ContinueAuthentication || state.Exchange is null)
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError, state.Exchange is null
                ? $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} outside a re-authentication (start one with 0x19) [MQTT-4.12.1-1]"
                : $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} during a re-authentication: only 0x18 Continue authentication");
        }
        StepReauthentication(data);
    }

    private void StepBeforeConnAck(byte[] data)
    {
        var state = _enhancedAuth!;
        var step = state.Exchange!.Step(data);
        switch (step.Outcome)
        {
            case EnhancedAuthOutcome.Continue:
                SendAuth(ReasonCode.ContinueAuthentication, step.Data);
                return;
            case EnhancedAuthOutcome.Success:
                state.Exchange = null;
                var connect = state.PendingConnect!;
                if (!GrantConnect(connect, state.PendingClientId, step.Username ?? connect.Username, step.Permissions))
                {
                    return;
                }
                // The CONNACK carries the same Authentication Method, and the final data if any [MQTT-4.12.0-5].
                CompleteConnect(connect, state.PendingClientId, state.PendingAssignedClientId,
                    new MqttProperties { AuthenticationMethod = state.Method, AuthenticationData = step.Data });
                state.PendingConnect = null;
                state.PendingAssignedClientId = null;
                return;
            default:
                state.Exchange = null;
                var code = step.ReasonCode is >= ReasonCode.UnspecifiedError && ReasonCodeRules.IsAllowed(PacketType.ConnAck, step.ReasonCode)
                    ? step.ReasonCode
                    : ReasonCode.NotAuthorized;
                // [MQTT-4.12.0-4]: CONNACK with the failure, then close.
                RefuseAuthentication(code, $"{state.Method}: {step.Reason}", v5: true);
                return;
        }
    }

    private void StepReauthentication(byte[] data)
    {
        var state = _enhancedAuth!;
        var step = state.Exchange!.Step(data);
        switch (step.Outcome)
        {
            case EnhancedAuthOutcome.Continue:
                SendAuth(ReasonCode.ContinueAuthentication, step.Data);
                return;
            case EnhancedAuthOutcome.Success:
                state.Exchange = null;
                var username = step.Username ?? Username;
                if (!string.Equals(username, Username, StringComparison.Ordinal) || step.Permissions is not null)
                {
                    // A new identity: its permissions replace the old ones for every later check.
                    _authorization = BuildAuthorization(_clientId, username, step.Permissions);
                    _authenticatedUsername = username;
                    if (_session is { } session)
                    {
                        session.Authorization = _authorization;
                    }
                }
                _log.LogInformation("Client {ClientId} ({Remote}) re-authenticated with {Method} as '{User}'", _clientId, _info.RemoteEndPoint, state.Method, username);
                SendAuth(ReasonCode.Success, step.Data);
                return;
            default:
                state.Exchange = null;
                Interlocked.Increment(ref Security.Counters.AuthenticationFailed);
                Security.Log.Write(RejectionCause.AuthenticationFailed,
                    $"re-authentication of client '{_clientId}' from {_info.RemoteEndPoint} failed (0x{(byte)step.ReasonCode:X2}): {state.Method}: {step.Reason}");
                // [MQTT-4.12.1-2]: DISCONNECT with the reason, then close (0x86 is no DISCONNECT code: 0x87 instead).
                var code = step.ReasonCode is >= ReasonCode.UnspecifiedError && ReasonCodeRules.IsAllowed(PacketType.Disconnect, step.ReasonCode)
                    ? step.ReasonCode
                    : ReasonCode.NotAuthorized;
                Abort(code, "re-authentication failed");
                return;
        }
    }

    private void SendAuth(ReasonCode code, byte[]? data)
        => SendControl(new AuthPacket
        {
            ReasonCode = code,
            Properties = new MqttProperties { AuthenticationMethod = _enhancedAuth!.Method, AuthenticationData = data },
        });
}
