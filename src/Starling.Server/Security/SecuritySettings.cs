using Starling.Security;
using Starling.Server.Tls;

namespace Starling.Server.Security;

/// <summary>The security part of the server's settings: TLS per listener and the auth files to keep reloaded.</summary>
internal sealed class SecuritySettings : IDisposable
{
    /// <summary>TLS listeners by listener name.</summary>
    public Dictionary<string, TlsListener> Tls { get; } = new(StringComparer.OrdinalIgnoreCase);

    public PasswordFileAuthenticator? Passwords { get; init; }
    public AclAuthorizer? Acl { get; init; }

    /// <summary>SCRAM-SHA-512 is enabled: a copy of the password file's $7$ hashes is enough to log in (warned at start).</summary>
    public bool HashEquivalentMethods { get; init; }

    /// <summary>Auth:TrustUnverifiedUsernames acknowledged an ACL file with user blocks and no authentication (warned at start).</summary>
    public bool TrustUnverifiedUsernames { get; set; }

    /// <summary>Running reloader, once started.</summary>
    public AuthFileReloader? Reloader { get; set; }

    public void Dispose()
    {
        Reloader?.Dispose();
        foreach (var tls in Tls.Values)
        {
            tls.Dispose();
        }
    }
}
