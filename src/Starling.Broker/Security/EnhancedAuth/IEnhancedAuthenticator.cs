using System.Net;
using Starling.Protocol;

namespace Starling.Broker.Security.EnhancedAuth;

/// <summary>
/// One MQTT 5 enhanced authentication method (spec 4.12): a CONNECT whose Authentication Method equals
/// <see cref="Method"/> starts a session, which gets every Authentication Data the client sends (the CONNECT's first,
/// then each AUTH 0x18's) and answers with the next step. Re-authentication (AUTH 0x19 after CONNACK) starts a new
/// session. Called on the connection's read loop: keep it fast and synchronous (no I/O).
/// </summary>
public interface IEnhancedAuthenticator
{
    /// <summary>The Authentication Method name, compared exactly (e.g. "SCRAM-SHA-256").</summary>
    string Method { get; }

    IEnhancedAuthSession Start(EnhancedAuthContext context);

    /// <summary>
    /// Asked, after the method's data changed (e.g. a password file reload), for every connected client it
    /// authenticated, with the username its last successful exchange returned: false ends the connection
    /// (DISCONNECT 0x87 Not authorized) without its will, as <see cref="IAuthenticator.IsStillValid"/> does for
    /// password logins. Default: still valid.
    /// </summary>
    bool IsStillValid(string? username) => true;
}

/// <summary>The state of one authentication exchange on one connection; used by one thread at a time.</summary>
public interface IEnhancedAuthSession
{
    /// <summary>
    /// Handles the client's next Authentication Data (empty when the packet carried none) and says what happens next:
    /// <see cref="EnhancedAuthStep.Continue"/> (the server sends AUTH 0x18 with the data), <see cref="EnhancedAuthStep.Success"/>
    /// (CONNACK 0x00, or AUTH 0x00 after a re-authentication) or <see cref="EnhancedAuthStep.Fail"/>.
    /// </summary>
    EnhancedAuthStep Step(ReadOnlySpan<byte> clientData);
}

/// <summary>Who is authenticating; the username is the CONNECT's (null without one).</summary>
public sealed record EnhancedAuthContext(
    string ClientId,
    string? ConnectUsername,
    EndPoint? RemoteEndPoint,
    string ListenerName,
    bool IsReauthentication,
    string? CurrentUsername);

public enum EnhancedAuthOutcome : byte
{
    Continue,
    Success,
    Fail,
}

/// <summary>One answer of an <see cref="IEnhancedAuthSession"/>.</summary>
public readonly record struct EnhancedAuthStep
{
    public EnhancedAuthOutcome Outcome { get; init; }

    /// <summary>Authentication Data for the client (challenge, or the final data of a success); null sends none.</summary>
    public byte[]? Data { get; init; }

    /// <summary>For a success: the username the broker uses from now on (ACL lookups, logs); null keeps the CONNECT's.</summary>
    public string? Username { get; init; }

    /// <summary>For a success: extra limits that come with the credentials, intersected with the authorizers'.</summary>
    public IClientAuthorization? Permissions { get; init; }

    /// <summary>For a failure: 0x86 bad user name or password, 0x87 not authorized, 0x8C bad authentication method, ...</summary>
    public ReasonCode ReasonCode { get; init; }

    /// <summary>Why, for the log (never sent to the client).</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// The user this exchange is about, as soon as the method knows it (SCRAM: the <c>n=</c> of the client-first
    /// message), on any step. The broker applies the failed-login limit per user to it before the next step (so before
    /// a proof is checked) and counts a failure against it; null keeps what an earlier step said (else the CONNECT's
    /// User Name, or for a re-authentication the connection's current user).
    /// </summary>
    public string? Subject { get; init; }

    public static EnhancedAuthStep Continue(byte[] data, string? subject = null)
        => new() { Outcome = EnhancedAuthOutcome.Continue, Data = data, Subject = subject };

    public static EnhancedAuthStep Success(byte[]? finalData, string? username, IClientAuthorization? permissions = null)
        => new() { Outcome = EnhancedAuthOutcome.Success, Data = finalData, Username = username, Permissions = permissions };

    public static EnhancedAuthStep Fail(ReasonCode code, string reason, string? subject = null)
        => new() { Outcome = EnhancedAuthOutcome.Fail, ReasonCode = code, Reason = reason, Subject = subject };
}
