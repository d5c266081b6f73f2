namespace Starling.Broker;

/// <summary>
/// The identity a session belongs to, as one comparable string: the certificate identity for a client authenticated
/// by its TLS certificate (use_identity_as_username), else the authenticated username, else "anonymous". The kinds
/// are prefixed so that a username can never equal a certificate identity or the anonymous identity.
/// </summary>
internal static class SessionIdentity
{
    /// <summary>The identity of anonymous clients (all of them are one identity).</summary>
    public const string Anonymous = "anonymous";

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
}
