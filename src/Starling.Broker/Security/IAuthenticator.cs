using System.Net;
using System.Security.Cryptography.X509Certificates;
using Starling.Protocol;

namespace Starling.Broker.Security;

/// <summary>What a CONNECT tells an <see cref="IAuthenticator"/>; valid only during the call (the password is a view).</summary>
public readonly ref struct AuthenticationRequest
{
    public AuthenticationRequest(string clientId, string? username, ReadOnlySpan<byte> password, bool hasPassword,
        X509Certificate2? clientCertificate, EndPoint? remoteEndPoint, string listenerName, ProtocolVersion version)
    {
        ClientId = clientId;
        Username = username;
        Password = password;
        HasPassword = hasPassword;
        ClientCertificate = clientCertificate;
        RemoteEndPoint = remoteEndPoint;
        ListenerName = listenerName;
        Version = version;
    }

    public string ClientId { get; }
    public string? Username { get; }
    public ReadOnlySpan<byte> Password { get; }
    public bool HasPassword { get; }

    /// <summary>The TLS client certificate, already validated by the transport against the configured CA; null without one.</summary>
    public X509Certificate2? ClientCertificate { get; }
    public EndPoint? RemoteEndPoint { get; }
    public string ListenerName { get; }
    public ProtocolVersion Version { get; }
}

/// <summary>Outcome of one authenticator for one CONNECT.</summary>
public readonly record struct AuthenticationResult
{
    /// <summary>This authenticator has nothing to say (e.g. the user is not in its file); the next one is asked.</summary>
    public static AuthenticationResult NotApplicable => default;

    public AuthenticationOutcome Outcome { get; init; }

    /// <summary>For <see cref="AuthenticationOutcome.Refused"/>: 0x86 bad user name or password, 0x87 not authorized, 0x8A banned.</summary>
    public ReasonCode ReasonCode { get; init; }

    /// <summary>Why, for the log (never sent to the client).</summary>
    public string? Reason { get; init; }

    /// <summary>The username the broker uses from now on (ACL lookups, logs); null keeps the CONNECT's.</summary>
    public string? ResolvedUsername { get; init; }

    /// <summary>Extra limits that come with the credentials (e.g. JWT topic claims), intersected with the authorizers'.</summary>
    public IClientAuthorization? Permissions { get; init; }

    /// <summary>
    /// When the credentials stop being valid (e.g. a JWT's "exp"); null = never. The broker closes the connection then
    /// (v5: DISCONNECT 0xA0 Maximum connect time) and does not publish its will.
    /// </summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    public static AuthenticationResult Allow(string? resolvedUsername = null, IClientAuthorization? permissions = null)
        => new() { Outcome = AuthenticationOutcome.Allowed, ResolvedUsername = resolvedUsername, Permissions = permissions };

    public static AuthenticationResult Refuse(ReasonCode code, string reason)
        => new() { Outcome = AuthenticationOutcome.Refused, ReasonCode = code, Reason = reason };
}

public enum AuthenticationOutcome : byte
{
    NotApplicable,
    Allowed,
    Refused,
}

/// <summary>
/// Checks the credentials of a CONNECT. Called on the connection's read loop, after the client id checks and before
/// the session is opened: keep it fast and synchronous (no I/O; files are read ahead and reloaded in the background).
/// Authenticators are asked in order; the first that allows or refuses decides.
/// </summary>
public interface IAuthenticator
{
    /// <summary>Name for logs ("password file", "jwt").</summary>
    string Name { get; }

    AuthenticationResult Authenticate(in AuthenticationRequest request);

    /// <summary>
    /// Asked, after the authenticator's data changed (a reload), for every connected client it accepted: false ends
    /// the connection (v5: DISCONNECT 0x87 Not authorized) without its will. Default: still valid.
    /// </summary>
    bool IsStillValid(string? username) => true;
}
