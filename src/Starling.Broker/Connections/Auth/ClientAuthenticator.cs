using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Client authentication at CONNECT: the overload guard, the certificate identity, the configured authenticators,
/// anonymous access, and the authorization of the result (the authorizers' permissions, counted and logged by
/// <see cref="GuardedAuthorization"/>). One per broker; stateless apart from <see cref="SecurityRuntime"/>'s counters.
/// A refusal is answered on the connection (CONNACK with the reason, then close) before the method returns null.
/// </summary>
internal sealed class ClientAuthenticator(SecurityRuntime security, bool allowAnonymous)
{
    /// <summary>
    /// Overload guard, authentication and authorization of a CONNECT whose client id passed its checks; null after
    /// refusing it.
    /// </summary>
    public AuthenticatedClient? Authenticate(MqttConnection connection, ConnectPacket connect, string clientId)
    {
        var info = connection.Info;
        var options = security.Options;
        if (!CheckOverload(connection))
        {
            return null;
        }

        string? username = connect.Username;
        IClientAuthorization? granted = null;
        Credentials? credentials = null;
        var decided = false;
        if (info.CertificateIdentityProblem is { } problem)
        {
            Refuse(connection, ReasonCode.NotAuthorized, $"client certificate gives no username: {problem}");
            return null;
        }
        if (info.CertificateUsername is { } certificateName)
        {
            // use_identity_as_username: the certificate, already validated against the CA, is the credential.
            username = certificateName;
            decided = true;
        }
        else
        {
            var address = (info.RemoteEndPoint as System.Net.IPEndPoint)?.Address;
            var hasCredentials = connect.Username is not null || connect.Password is not null;
            if (hasCredentials && options.HasAuthentication && !CheckThrottle(connection, address, connect.Username))
            {
                return null;
            }
            var request = new AuthenticationRequest(clientId, connect.Username, connect.Password, connect.Password is not null,
                info.ClientCertificate, info.RemoteEndPoint, info.ListenerName, connection.Version);
            foreach (var authenticator in options.Authenticators)
            {
                var result = authenticator.Authenticate(request);
                if (result.Outcome == AuthenticationOutcome.NotApplicable)
                {
                    continue;
                }
                if (result.Outcome == AuthenticationOutcome.Refused)
                {
                    security.Logins.RecordFailure(address, connect.Username);
                    Refuse(connection, result.ReasonCode, $"{authenticator.Name}: {result.Reason}");
                    return null;
                }
                security.Logins.RecordSuccess(connect.Username);
                credentials = new Credentials(authenticator, username, result.ExpiresAt);
                username = result.ResolvedUsername ?? username;
                granted = result.Permissions;
                decided = true;
                break;
            }
        }
        if (!decided)
        {
            if (username is null)
            {
                if (!allowAnonymous)
                {
                    Interlocked.Increment(ref security.Counters.AnonymousRefused);
                    security.Log.Write(RejectionCause.AnonymousRefused, $"CONNECT of client '{clientId}' from {info.RemoteEndPoint} refused: anonymous clients are not allowed (AllowAnonymous)");
                    connection.Refuse(ReasonCode.NotAuthorized, "anonymous clients are not allowed");
                    return null;
                }
            }
            else if (options.HasAuthentication)
            {
                security.Logins.RecordFailure((info.RemoteEndPoint as System.Net.IPEndPoint)?.Address, username);
                Refuse(connection, ReasonCode.BadUserNameOrPassword, $"unknown user '{username}'");
                return null;
            }
        }
        return Grant(connection, connect, clientId, username, granted, credentials);
    }

    /// <summary>
    /// The failed-login limits; false after refusing the CONNECT without checking its credentials. v5: 0x9F Connection
    /// rate exceeded (the CONNACK code for an administrative rate limit); 3.1.1: 3 Server unavailable ("try later";
    /// 4 would tell a user who typed the right password that it is wrong).
    /// </summary>
    public bool CheckThrottle(MqttConnection connection, System.Net.IPAddress? address, string? username)
    {
        if (security.Logins.Check(address, username) is not { } limit)
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.LoginsThrottled);
        security.Log.Write(RejectionCause.LoginThrottled,
            $"CONNECT of user '{username}' from {connection.Info.RemoteEndPoint} refused without checking its credentials: too many failed logins ({limit} "
            + $"within Limits:FailedLoginWindowSeconds = {security.Options.FailedLoginWindowSeconds} s)");
        connection.Refuse(connection.Version == ProtocolVersion.V500 ? ReasonCode.ConnectionRateExceeded : ReasonCode.ServerUnavailable, "too many failed logins");
        return false;
    }

    /// <summary>The overload guard of CONNECT; false after refusing it.</summary>
    public bool CheckOverload(MqttConnection connection)
    {
        if (!security.IsOverloaded())
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.Overloaded);
        security.Log.Write(RejectionCause.Overloaded,
            $"CONNECT from {connection.Info.RemoteEndPoint} refused: managed memory is above {security.Options.MaxMemoryFraction:P0} of what is available (Limits:MaxMemoryFraction)");
        connection.Refuse(connection.Version == ProtocolVersion.V500 ? ReasonCode.ServerBusy : ReasonCode.ServerUnavailable, "server overloaded (memory)");
        return false;
    }

    /// <summary>The permissions of an authenticated identity (null: everything allowed): the authorizers' and <paramref name="granted"/>.</summary>
    public IClientAuthorization? BuildAuthorization(ConnectionInfo info, string clientId, string? username, IClientAuthorization? granted)
        => IdentityAuthorization.Build(security, new ClientIdentity(clientId, username, info.ListenerName), info.RemoteEndPoint, granted);

    /// <summary>Authorization of an authenticated CONNECT (also after enhanced authentication); null after refusing it.</summary>
    public AuthenticatedClient? Grant(MqttConnection connection, ConnectPacket connect, string clientId, string? username, IClientAuthorization? granted,
        Credentials? credentials = null)
    {
        var authorization = BuildAuthorization(connection.Info, clientId, username, granted);
        if (connect.Will is { } will && WillPublisher.IsSysTopic(will.Topic))
        {
            // The $SYS rule of PUBLISH applies to wills: refused at CONNECT (0x87 / 5), as a will the client may not
            // publish is; published later, a retained one would spoof the broker's own data.
            Interlocked.Increment(ref security.Counters.WillNotAuthorized);
            security.Log.Write(RejectionCause.WillNotAuthorized, $"CONNECT of client '{clientId}' ({connection.Info.RemoteEndPoint}) refused: will topic '{will.Topic}' is in the broker's $SYS tree");
            connection.Refuse(ReasonCode.NotAuthorized, $"not authorized to publish the will to '{will.Topic}'");
            return null;
        }
        if (connect.Will is { } w && authorization is not null && !authorization.CanPublish(w.Topic))
        {
            // Mosquitto refuses a CONNECT whose will it could never publish.
            connection.Refuse(ReasonCode.NotAuthorized, $"not authorized to publish the will to '{w.Topic}'");
            return null;
        }
        connection.LeavePending();
        return new AuthenticatedClient(username, authorization, credentials);
    }

    /// <summary>Counts and logs a failed authentication, then refuses the CONNECT with <paramref name="code"/>.</summary>
    public void Refuse(MqttConnection connection, ReasonCode code, string why)
    {
        Interlocked.Increment(ref security.Counters.AuthenticationFailed);
        security.Log.Write(RejectionCause.AuthenticationFailed, $"CONNECT from {connection.Info.RemoteEndPoint} refused (0x{(byte)code:X2}): {why}");
        connection.Refuse(code, why);
    }
}
