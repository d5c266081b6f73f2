using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// How a connected client proved who it is, kept for as long as the connection lives so that the broker can end the
/// connection when the proof stops holding: at the credentials' expiry (a JWT's <c>exp</c>; the Heartbeat checks it on
/// the broker's clock) or when a reload makes <see cref="IAuthenticator.IsStillValid"/> false. Only connections
/// authenticated by an <see cref="IAuthenticator"/> have one (null otherwise: nothing per connection without
/// authentication). Immutable except for <see cref="Revoked"/>, which a reload sets from another thread.
/// </summary>
internal sealed class Credentials(IAuthenticator authenticator, string? username, DateTimeOffset? expiresAt)
{
    private volatile bool _revoked;

    /// <summary>The authenticator that accepted the client.</summary>
    public IAuthenticator Authenticator { get; } = authenticator;

    /// <summary>The username the authenticator was asked about (the CONNECT's, before any resolution).</summary>
    public string? Username { get; } = username;

    /// <summary>When the credentials stop being valid; null = never.</summary>
    public DateTimeOffset? ExpiresAt { get; } = expiresAt;

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
