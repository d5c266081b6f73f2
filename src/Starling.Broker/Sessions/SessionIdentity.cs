namespace Starling.Broker;

/// <summary>
/// The identity a session belongs to, as one comparable string: the certificate identity for a client authenticated
/// by its TLS certificate (use_identity_as_username), else the authenticated username, else "anonymous". The kinds
/// are prefixed so that a username can never equal a certificate identity or the anonymous identity.
/// <para>
/// A persistent session created by an anonymous client records the address it came from ("anonymous@ADDRESS"), so
/// Limits:MaxPersistentSessionsPerAddress can count it and the count survives a restart (the owner is stored with the
/// session). For ownership every anonymous form is one identity (<see cref="SameOwner"/>): the address says who
/// created the session, not who may resume it.
/// </para>
/// </summary>
internal static class SessionIdentity
{
    /// <summary>The identity of anonymous clients (all of them are one identity).</summary>
    public const string Anonymous = "anonymous";

    private const string AnonymousFrom = "anonymous@";

    public static string Of(ConnectionInfo info, string? username)
        => info.CertificateUsername is { } certificate ? "cert:" + certificate
            : username is not null ? "user:" + username
            : Anonymous;

    /// <summary>
    /// The username an identity stands for in permission checks (a certificate identity is the username with
    /// use_identity_as_username); null for the anonymous identity.
    /// </summary>
    public static string? UsernameOf(string identity)
        => identity.StartsWith("cert:", StringComparison.Ordinal) ? identity["cert:".Length..]
            : identity.StartsWith("user:", StringComparison.Ordinal) ? identity["user:".Length..]
            : null;

    /// <summary>True for the anonymous identity, with or without the creator's address.</summary>
    public static bool IsAnonymous(string identity)
        => identity == Anonymous || identity.StartsWith(AnonymousFrom, StringComparison.Ordinal);

    /// <summary>Whether two recorded identities are the same owner (every anonymous form is one).</summary>
    public static bool SameOwner(string a, string b) => a == b || (IsAnonymous(a) && IsAnonymous(b));

    /// <summary>
    /// The key persistent sessions are counted under: the identity itself, or for an anonymous client the address it
    /// connects from (<paramref name="source"/>).
    /// </summary>
    public static string OwnerKey(string identity, string source)
        => identity == Anonymous ? AnonymousFrom + source : identity;
}
