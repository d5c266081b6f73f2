using System.Security.Cryptography;

namespace Starling.Security;

/// <summary>Which signature a JWT must carry; only one is accepted per configuration (no algorithm negotiation).</summary>
public enum JwtAlgorithm
{
    HS256,
    RS256,
}

/// <summary>Settings of <see cref="JwtAuthenticator"/>.</summary>
public sealed class JwtOptions
{
    public JwtAlgorithm Algorithm { get; init; }

    /// <summary>HS256: the shared secret (at least 32 bytes).</summary>
    public byte[]? Secret { get; init; }

    /// <summary>RS256: the issuer's public key.</summary>
    public RSA? PublicKey { get; init; }

    /// <summary>When set, the token must carry this "iss".</summary>
    public string? Issuer { get; init; }

    /// <summary>When set, the token's "aud" (a string or an array) must contain this.</summary>
    public string? Audience { get; init; }

    /// <summary>When set, only CONNECTs with this username carry tokens; otherwise any password that looks like a JWT is one.</summary>
    public string? Username { get; init; }

    /// <summary>Tolerance for "exp" and "nbf".</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Claim holding the identity (the username for ACLs and logs); required, a non-empty string.</summary>
    public string UsernameClaim { get; init; } = "sub";

    /// <summary>Claim holding the client id (or ids) the token may connect with; absent claim: any client id.</summary>
    public string ClientIdClaim { get; init; } = "clientid";

    /// <summary>Claim holding the topic filters the client may publish to; absent claim: not restricted by the token.</summary>
    public string PublishClaim { get; init; } = "pub";

    /// <summary>Claim holding the topic filters the client may subscribe to and receive from; absent: not restricted.</summary>
    public string SubscribeClaim { get; init; } = "subs";

    /// <summary>Largest token accepted, in bytes.</summary>
    public int MaxTokenLength { get; init; } = 8192;
}
