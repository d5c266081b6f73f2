using Microsoft.Extensions.Logging;
using Starling.Broker.Security;
using Starling.Broker.Security.EnhancedAuth;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// MQTT 5 enhanced authentication (spec 4.12, AUTH 3.15): the AUTH exchange after a CONNECT with an Authentication
/// Method, which admits the client (<see cref="ClientAdmission"/>) when the method succeeds, and re-authentication
/// (AUTH 0x19) after CONNACK. One per broker; the per-connection state is <see cref="EnhancedAuthState"/> in
/// <see cref="ConnectionState.EnhancedAuth"/>. Runs on the connection's read loop, like the rest of CONNECT; before
/// CONNACK only AUTH and DISCONNECT are read, and the connect timeout still applies.
/// </summary>
internal sealed class EnhancedAuthHandler(SecurityRuntime security, ClientAuthenticator authenticator, ClientAdmission admission, ILogger log)
{
    /// <summary>
    /// Whether a packet of <paramref name="type"/> may arrive before CONNACK: CONNECT first; while an enhanced
    /// authentication runs (<paramref name="authenticating"/>), only AUTH and DISCONNECT [MQTT-3.1.2-30] (anything
    /// else is a protocol error).
    /// </summary>
    public static bool AcceptedBeforeConnAck(bool authenticating, PacketType type)
    {
        if (!authenticating)
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
    public void Begin(MqttConnection connection, ConnectPacket connect, string clientId, string? assignedClientId, string method)
    {
        if (!authenticator.CheckOverload(connection)
            || !authenticator.CheckThrottle(connection, AddressOf(connection), connect.Username))
        {
            return;
        }
        IEnhancedAuthenticator? plugin = null;
        foreach (var candidate in security.Options.EnhancedAuthenticators)
        {
            if (string.Equals(candidate.Method, method, StringComparison.Ordinal))
            {
                plugin = candidate;
                break;
            }
        }
        if (plugin is null)
        {
            // [MQTT-4.12.0-1]
            connection.Refuse(ReasonCode.BadAuthenticationMethod, $"authentication method '{method}' is not supported");
            return;
        }
        var state = connection.State.EnhancedAuth = new EnhancedAuthState(method, plugin)
        {
            PendingConnect = connect,
            PendingClientId = clientId,
            PendingAssignedClientId = assignedClientId,
            Subject = connect.Username,
        };
        var info = connection.Info;
        state.Exchange = plugin.Start(new EnhancedAuthContext(clientId, connect.Username, info.RemoteEndPoint, info.ListenerName,
            IsReauthentication: false, CurrentUsername: null));
        StepBeforeConnAck(connection, state, connect.Properties?.AuthenticationData ?? []);
    }

    /// <summary>An AUTH from the client: the next step of the exchange in progress, or the start of a re-authentication.</summary>
    public void HandleAuth(MqttConnection connection, AuthPacket auth)
    {
        if (connection.State.EnhancedAuth is not { } state)
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError, "AUTH without an authentication method in CONNECT [MQTT-4.12.0-7]");
        }
        if (!string.Equals(auth.Properties?.AuthenticationMethod, state.Method, StringComparison.Ordinal))
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError,
                $"AUTH with Authentication Method '{auth.Properties?.AuthenticationMethod}', not the CONNECT's '{state.Method}' [MQTT-4.12.0-5]");
        }
        var data = auth.Properties?.AuthenticationData ?? [];
        if (!connection.IsConnected)
        {
            if (auth.ReasonCode != ReasonCode.ContinueAuthentication || state.Exchange is null)
            {
                throw new MqttProtocolException(ReasonCode.ProtocolError,
                    $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} before CONNACK: only 0x18 Continue authentication [MQTT-4.12.0-3]");
            }
            StepBeforeConnAck(connection, state, data);
            return;
        }
        if (auth.ReasonCode == ReasonCode.ReAuthenticate && state.Exchange is null)
        {
            // [MQTT-4.12.1-1]: same method as in CONNECT (checked above); a new exchange.
            var info = connection.Info;
            state.Exchange = state.Authenticator.Start(new EnhancedAuthContext(connection.ClientId, null, info.RemoteEndPoint, info.ListenerName,
                IsReauthentication: true, CurrentUsername: connection.Username));
            state.Subject = connection.Username;
        }
        else if (auth.ReasonCode != ReasonCode.ContinueAuthentication || state.Exchange is null)
        {
            throw new MqttProtocolException(ReasonCode.ProtocolError, state.Exchange is null
                ? $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} outside a re-authentication (start one with 0x19) [MQTT-4.12.1-1]"
                : $"AUTH with reason 0x{(byte)auth.ReasonCode:X2} during a re-authentication: only 0x18 Continue authentication");
        }
        StepReauthentication(connection, state, data);
    }

    private void StepBeforeConnAck(MqttConnection connection, EnhancedAuthState state, byte[] data)
    {
        // The per-user limit applies to the user the exchange names (SCRAM: n=, whatever the CONNECT's User Name), checked
        // before each step, so before a proof is verified, and again as soon as a step names the user (no challenge for
        // a throttled one). Concurrent exchanges for one user are stopped at their next step.
        if (!authenticator.CheckThrottle(connection, AddressOf(connection), state.Subject))
        {
            state.Exchange = null;
            return;
        }
        var step = state.Exchange!.Step(data);
        state.Subject = step.Subject ?? state.Subject;
        switch (step.Outcome)
        {
            case EnhancedAuthOutcome.Continue:
                if (step.Subject is not null && !authenticator.CheckThrottle(connection, AddressOf(connection), state.Subject))
                {
                    state.Exchange = null;
                    return;
                }
                SendAuth(connection, state, ReasonCode.ContinueAuthentication, step.Data);
                return;
            case EnhancedAuthOutcome.Success:
                state.Exchange = null;
                var connect = state.PendingConnect!;
                var username = step.Username ?? connect.Username;
                // Credentials like a password login's, so a reload that removes the user ends the connection (finding 14).
                if (authenticator.Grant(connection, connect, state.PendingClientId, username, step.Permissions, new Credentials(state.Authenticator, username)) is not { } client)
                {
                    return;
                }
                // The CONNACK carries the same Authentication Method, and the final data if any [MQTT-4.12.0-5].
                admission.Admit(connection, connect, state.PendingClientId, state.PendingAssignedClientId, client,
                    new MqttProperties { AuthenticationMethod = state.Method, AuthenticationData = step.Data });
                security.Logins.RecordSuccess(state.Subject);
                state.PendingConnect = null;
                state.PendingAssignedClientId = null;
                return;
            default:
                state.Exchange = null;
                var code = step.ReasonCode is >= ReasonCode.UnspecifiedError && ReasonCodeRules.IsAllowed(PacketType.ConnAck, step.ReasonCode)
                    ? step.ReasonCode
                    : ReasonCode.NotAuthorized;
                // [MQTT-4.12.0-4]: CONNACK with the failure, then close. Counts against the failed-login limits too.
                security.Logins.RecordFailure(AddressOf(connection), state.Subject);
                authenticator.Refuse(connection, code, $"{state.Method}: {step.Reason}");
                return;
        }
    }

    /// <summary>
    /// One step of a re-authentication. It is a login attempt like a CONNECT's: the failed-login limits apply before
    /// each step and as soon as the method names the user, and a failure counts against the address and that user, so
    /// a connected client cannot guess passwords through AUTH 0x19 faster than through CONNECT.
    /// </summary>
    private void StepReauthentication(MqttConnection connection, EnhancedAuthState state, byte[] data)
    {
        if (!CheckReauthenticationThrottle(connection, state))
        {
            return;
        }
        var step = state.Exchange!.Step(data);
        state.Subject = step.Subject ?? state.Subject;
        var info = connection.Info;
        switch (step.Outcome)
        {
            case EnhancedAuthOutcome.Continue:
                if (step.Subject is not null && !CheckReauthenticationThrottle(connection, state))
                {
                    return;
                }
                SendAuth(connection, state, ReasonCode.ContinueAuthentication, step.Data);
                return;
            case EnhancedAuthOutcome.Success:
                state.Exchange = null;
                var current = connection.Username;
                var username = step.Username ?? current;
                if (!string.Equals(username, current, StringComparison.Ordinal) || step.Permissions is not null)
                {
                    // A new identity: its permissions replace the old ones for every later check.
                    ref var client = ref connection.State;
                    client.Authorization = authenticator.BuildAuthorization(info, client.ClientId, username, step.Permissions);
                    client.AuthenticatedUsername = username;
                    if (client.Session is { } session)
                    {
                        session.Authorization = client.Authorization;
                    }
                }
                // The proof is fresh: reloads from now on ask about the user it named.
                connection.State.Credentials = new Credentials(state.Authenticator, username);
                security.Logins.RecordSuccess(state.Subject);
                ConnectionLog.ReauthenticatedThrottled(log, security.ReauthenticationLog, connection.ClientId, info.RemoteEndPoint, state.Method, username);
                SendAuth(connection, state, ReasonCode.Success, step.Data);
                return;
            default:
                state.Exchange = null;
                security.Logins.RecordFailure(AddressOf(connection), state.Subject);
                Interlocked.Increment(ref security.Counters.AuthenticationFailed);
                security.Log.Write(RejectionCause.AuthenticationFailed,
                    $"re-authentication of client '{connection.ClientId}' from {info.RemoteEndPoint} failed (0x{(byte)step.ReasonCode:X2}): {state.Method}: {step.Reason}");
                // [MQTT-4.12.1-2]: DISCONNECT with the reason, then close (0x86 is no DISCONNECT code: 0x87 instead).
                var code = step.ReasonCode is >= ReasonCode.UnspecifiedError && ReasonCodeRules.IsAllowed(PacketType.Disconnect, step.ReasonCode)
                    ? step.ReasonCode
                    : ReasonCode.NotAuthorized;
                connection.Abort(code, "re-authentication failed");
                return;
        }
    }

    /// <summary>
    /// The failed-login limits for a re-authentication step; false after ending the connection: DISCONNECT 0x9F
    /// Connection rate exceeded (a DISCONNECT code, and the CONNACK code a throttled CONNECT gets), without checking
    /// the credentials. Counted (LoginsThrottled) and logged rate-limited like a throttled CONNECT.
    /// </summary>
    private bool CheckReauthenticationThrottle(MqttConnection connection, EnhancedAuthState state)
    {
        if (security.Logins.Check(AddressOf(connection), state.Subject) is not { } limit)
        {
            return true;
        }
        state.Exchange = null;
        Interlocked.Increment(ref security.Counters.LoginsThrottled);
        security.Log.Write(RejectionCause.LoginThrottled,
            $"re-authentication of client '{connection.ClientId}' (user '{state.Subject}') from {connection.Info.RemoteEndPoint} refused without checking its credentials: "
            + $"too many failed logins ({limit} within Limits:FailedLoginWindowSeconds = {security.Options.FailedLoginWindowSeconds} s)");
        connection.Abort(ReasonCode.ConnectionRateExceeded, "re-authentication refused: too many failed logins");
        return false;
    }

    private static System.Net.IPAddress? AddressOf(MqttConnection connection) => (connection.Info.RemoteEndPoint as System.Net.IPEndPoint)?.Address;

    private static void SendAuth(MqttConnection connection, EnhancedAuthState state, ReasonCode code, byte[]? data)
        => connection.Writer.SendControl(new AuthPacket
        {
            ReasonCode = code,
            Properties = new MqttProperties { AuthenticationMethod = state.Method, AuthenticationData = data },
        });
}
