using Starling.Broker.Security;
using Starling.Broker.Security.EnhancedAuth;

namespace Starling.Broker;

/// <summary>
/// How a connected client proved who it is, kept for as long as the connection lives so that the broker can end the
/// connection when the proof stops holding: at the credentials' expiry (a JWT's <c>exp</c>; the Heartbeat checks it on
/// the broker's clock) or when a reload makes <see cref="IsStillValid"/> false. Connections authenticated by an
/// <see cref="IAuthenticator"/> (password, JWT) or by an <see cref="IEnhancedAuthenticator"/> (SCRAM; replaced by each
/// successful re-authentication) have one; null otherwise (anonymous, certificate identity: nothing per connection
/// without authentication). Immutable except for <see cref="Revoked"/>, which a reload sets from another thread.
/// Exactly one of the two authenticators is set.
/// </summary>
internal sealed class Credentials
{
    private readonly IAuthenticator? _authenticator;
    private readonly IEnhancedAuthenticator? _enhanced;
    private volatile bool _revoked;

    /// <summary>Accepted by a username/password authenticator, asked about <paramref name="username"/> (the CONNECT's).</summary>
    public Credentials(IAuthenticator authenticator, string? username, DateTimeOffset? expiresAt)
        => (_authenticator, Username, ExpiresAt) = (authenticator, username, expiresAt);

    /// <summary>Accepted by an enhanced authentication method, whose exchange named <paramref name="username"/>.</summary>
    public Credentials(IEnhancedAuthenticator method, string? username)
        => (_enhanced, Username) = (method, username);

    /// <summary>The username the authenticator was asked about (the CONNECT's before any resolution; the method's for enhanced authentication).</summary>
    public string? Username { get; }

    /// <summary>Whether the authenticator that accepted the client still accepts <see cref="Username"/> (asked after a reload).</summary>
    public bool IsStillValid() => _authenticator?.IsStillValid(Username) ?? _enhanced!.IsStillValid(Username);

    /// <summary>When the credentials stop being valid; null = never.</summary>
    public DateTimeOffset? ExpiresAt { get; }

    /// <summary>Set once a reload found the credentials no longer valid.</summary>
    public bool Revoked => _revoked;

    public void Revoke() => _revoked = true;

    public bool HasExpired(TimeProvider time) => ExpiresAt is { } at && time.GetUtcNow() >= at;

    /// <summary>Revoked or expired: the connection ends, and its will is not published on these credentials.</summary>
    public bool HaveEnded(TimeProvider time) => _revoked || HasExpired(time);

    /// <summary>
    /// Null while valid; else the v5 DISCONNECT reason: 0x87 Not authorized once revoked, 0xA0 Maximum connect time once
    /// expired (the connection time the credentials authorized is over).
    /// </summary>
    public Protocol.ReasonCode? EndReason(TimeProvider time)
        => _revoked ? Protocol.ReasonCode.NotAuthorized : HasExpired(time) ? Protocol.ReasonCode.MaximumConnectTime : null;
}
