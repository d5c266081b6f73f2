using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Starling.Broker;
using Starling.Broker.Security;
using Starling.Security;
using Starling.Server.Security;
using Starling.Server.Tls;

namespace Starling.Server;

/// <summary>Security settings: Auth:*, the security limits and Listeners:N:Tls:* (docs/security.md).</summary>
internal sealed partial class ServerConfiguration
{
    private static readonly string[] s_securityLimitKeys =
    [
        "MaxConnectionsPerAddress", "MaxOpenConnections", "MaxHttpConnections", "MaxPendingConnections", "MaxSubscriptionsPerClient", "MaxTopicLength", "MaxTopicLevels",
        "MaxPublishRate", "PublishBurst", "MaxMemoryFraction", "RejectionLogIntervalSeconds",
        "MaxFailedLoginsPerAddress", "MaxFailedLoginsPerUser", "FailedLoginWindowSeconds", "MaxTrackedFailedLogins", "MaxTakeoversPerMinute",
    ];
    private static readonly string[] s_authKeys =
        ["PasswordFile", "AclFile", "AllowAnonymous", "EnhancedMethods", "AllowHashEquivalentMethods", "TrustUnverifiedUsernames", "SessionOwnership"];
    private static readonly string[] s_jwtKeys =
        ["Algorithm", "Secret", "SecretFile", "PublicKeyFile", "Issuer", "Audience", "Username", "ClockSkewSeconds", "ClientIdClaim", "PublishClaim", "SubscribeClaim", "UsernameClaim"];
    private static readonly string[] s_tlsKeys = ["CertFile", "KeyFile", "CaFile", "ClientCertificate", "UseIdentityAsUsername", "IdentitySource"];

    private bool _maxOpenConnectionsConfigured;

    private static bool IsKnownSecurityKey(string[] parts) => parts[0].ToUpperInvariant() switch
    {
        "LIMITS" => parts.Length == 2 && s_securityLimitKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase),
        "AUTH" => (parts.Length == 2 && s_authKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("Jwt", StringComparison.OrdinalIgnoreCase) && s_jwtKeys.Contains(parts[2], StringComparer.OrdinalIgnoreCase))
            || (parts.Length == 3 && parts[1].Equals("EnhancedMethods", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)),
        "LISTENERS" => parts.Length == 4 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && parts[2].Equals("Tls", StringComparison.OrdinalIgnoreCase) && s_tlsKeys.Contains(parts[3], StringComparer.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>Limits:* of <see cref="SecurityOptions"/>; runs before the broker options are validated.</summary>
    private void ReadSecurityLimits(BrokerOptions broker)
    {
        var s = broker.Security;
        s.MaxConnectionsPerAddress = ReadInt("Limits:MaxConnectionsPerAddress", s.MaxConnectionsPerAddress);
        s.MaxPendingConnections = ReadInt("Limits:MaxPendingConnections", s.MaxPendingConnections);
        // Not configured: starling-server derives it from the open-file limit once it listens (OpenFileLimit).
        _maxOpenConnectionsConfigured = Root["Limits:MaxOpenConnections"] is not null;
        s.MaxOpenConnections = ReadInt("Limits:MaxOpenConnections", s.MaxOpenConnections);
        s.MaxSubscriptionsPerClient = ReadInt("Limits:MaxSubscriptionsPerClient", s.MaxSubscriptionsPerClient);
        s.MaxTopicLength = ReadInt("Limits:MaxTopicLength", s.MaxTopicLength);
        s.MaxTopicLevels = ReadInt("Limits:MaxTopicLevels", s.MaxTopicLevels);
        s.PublishBurst = ReadInt("Limits:PublishBurst", s.PublishBurst);
        s.MaxPublishRate = ReadNumber("Limits:MaxPublishRate", s.MaxPublishRate, "must be 0 (no limit) or a number of messages per second, e.g. 100");
        s.MaxTakeoversPerMinute = ReadInt("Limits:MaxTakeoversPerMinute", s.MaxTakeoversPerMinute);
        if (Root["Auth:SessionOwnership"] is { } ownership)
        {
            s.SessionOwnership = Enum.TryParse<SessionOwnership>(ownership.Trim(), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
                && !int.TryParse(ownership, out _)
                ? parsed
                : throw Bad("Auth:SessionOwnership", "must be refuse (the default: a client id's session belongs to the identity that created it), replace or off");
        }
        s.MaxMemoryFraction = ReadNumber("Limits:MaxMemoryFraction", s.MaxMemoryFraction, "must be a fraction between 0 (disabled) and 1, e.g. 0.85");
        s.MaxFailedLoginsPerAddress = ReadInt("Limits:MaxFailedLoginsPerAddress", s.MaxFailedLoginsPerAddress);
        s.MaxFailedLoginsPerUser = ReadInt("Limits:MaxFailedLoginsPerUser", s.MaxFailedLoginsPerUser);
        s.FailedLoginWindowSeconds = ReadNumber("Limits:FailedLoginWindowSeconds", s.FailedLoginWindowSeconds, "must be a number of seconds above 0 and at most 86400, e.g. 60");
        s.MaxTrackedFailedLogins = ReadInt("Limits:MaxTrackedFailedLogins", s.MaxTrackedFailedLogins);
        s.RejectionLogInterval = TimeSpan.FromSeconds(ReadNumber("Limits:RejectionLogIntervalSeconds", s.RejectionLogInterval.TotalSeconds,
            "must be a number of seconds, e.g. 10"));
        try
        {
            s.Validate();
        }
        catch (ArgumentException ex)
        {
            var key = ex.ParamName == nameof(SecurityOptions.RejectionLogInterval) ? "Limits:RejectionLogIntervalSeconds"
                : ex.ParamName == nameof(SecurityOptions.SessionOwnership) ? "Auth:SessionOwnership" : "Limits:" + ex.ParamName;
            var at = ex.Message.IndexOf("it must be ", StringComparison.Ordinal);
            var expectation = at >= 0 ? ex.Message[(at + 3)..] : ex.Message;
            var p = expectation.IndexOf(" (Parameter", StringComparison.Ordinal);
            throw Bad(key, (p > 0 ? expectation[..p] : expectation).TrimEnd('.', ' '));
        }
    }

    private double ReadNumber(string key, double fallback, string expectation)
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var result) && double.IsFinite(result) && result >= 0
            ? result
            : throw Bad(key, expectation);
    }

    /// <summary>Auth:* and TLS; configures the broker's authenticators and authorizers.</summary>
    private SecuritySettings ReadSecurity(BrokerOptions broker, IReadOnlyList<ListenerSettings> listeners)
    {
        PasswordFileAuthenticator? passwords = null;
        AclAuthorizer? acl = null;
        if (ReadPath("Auth:PasswordFile") is { } passwordPath)
        {
            passwords = new PasswordFileAuthenticator(LoadFile("Auth:PasswordFile", passwordPath, PasswordFile.Load,
                "create it with 'starling passwd -c FILE USER' or mosquitto_passwd"));
            broker.Security.Authenticators.Add(passwords);
        }
        ReadEnhancedMethods(broker, passwords);
        if (ReadJwt() is { } jwt)
        {
            broker.Security.Authenticators.Add(jwt);
        }
        if (ReadPath("Auth:AclFile") is { } aclPath)
        {
            acl = new AclAuthorizer(LoadFile("Auth:AclFile", aclPath, AclFile.Load, "see docs/security.md for the syntax"));
            broker.Security.Authorizers.Add(acl);
        }
        var settings = new SecuritySettings
        {
            Passwords = passwords,
            Acl = acl,
            HashEquivalentMethods = broker.Security.EnhancedAuthenticators.Any(m => m.Method == "SCRAM-SHA-512"),
        };
        try
        {
            ReadTls(settings, listeners);
            settings.TrustUnverifiedUsernames = CheckAclHasAuthentication(broker, settings, listeners);
        }
        catch
        {
            settings.Dispose();
            throw;
        }
        // Mosquitto 2: anonymous clients are allowed until some authentication is configured, unless said otherwise.
        if (Root["Auth:AllowAnonymous"] is not null)
        {
            broker.AllowAnonymous = ReadBool("Auth:AllowAnonymous", broker.AllowAnonymous);
        }
        else if (Root["AllowAnonymous"] is null && (broker.Security.HasAuthentication || settings.Tls.Values.Any(t => t.Settings.UseIdentityAsUsername)))
        {
            broker.AllowAnonymous = false;
        }
        return settings;
    }

    /// <summary>
    /// An ACL file's <c>user</c> blocks mean something only when usernames are verified: without an authenticator
    /// (password file, JWT, or a client certificate on every listener) any client could claim any of them. Refuses
    /// to start unless Auth:TrustUnverifiedUsernames acknowledges it; returns whether it did.
    /// </summary>
    private bool CheckAclHasAuthentication(BrokerOptions broker, SecuritySettings settings, IReadOnlyList<ListenerSettings> listeners)
    {
        const string trustKey = "Auth:TrustUnverifiedUsernames";
        var trust = ReadBool(trustKey, false);
        var certificatesEverywhere = listeners.All(l => settings.Tls.TryGetValue(l.Name, out var tls) && tls.Settings.UseIdentityAsUsername);
        if (settings.Acl is not { } acl || acl.File.Users.Count == 0 || broker.Security.HasAuthentication || certificatesEverywhere)
        {
            return false;
        }
        if (!trust)
        {
            throw Bad("Auth:AclFile", $"names a file with 'user' blocks ({string.Join(", ", acl.File.Users.Take(3).Select(u => $"'{u}'"))}"
                + $"{(acl.File.Users.Count > 3 ? ", ..." : "")}), but no authentication is configured, so any client could claim those usernames without a password. "
                + $"Set Auth:PasswordFile (or Auth:Jwt:*, or Listeners:N:Tls:UseIdentityAsUsername on every listener), or set {trustKey}=true to accept unverified usernames");
        }
        return true;
    }

    private string? ReadPath(string key)
    {
        var value = Root[key];
        if (value is null || value.Trim().Length == 0)
        {
            return null;
        }
        return Path.GetFullPath(value.Trim());
    }

    private T LoadFile<T>(string key, string path, Func<string, T> load, string hint)
    {
        if (!File.Exists(path))
        {
            throw Bad(key, $"must name an existing file, and '{path}' does not exist ({hint})");
        }
        try
        {
            return load(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            throw Bad(key, $"names a file that cannot be used: {ex.Message}");
        }
    }

    private JwtAuthenticator? ReadJwt()
    {
        var algorithmText = Root["Auth:Jwt:Algorithm"];
        var anyJwt = s_jwtKeys.Any(k => Root["Auth:Jwt:" + k] is not null);
        if (!anyJwt)
        {
            return null;
        }
        if (algorithmText is null || !Enum.TryParse<JwtAlgorithm>(algorithmText.Trim(), ignoreCase: true, out var algorithm) || !Enum.IsDefined(algorithm))
        {
            throw Bad("Auth:Jwt:Algorithm", "must be HS256 (with Auth:Jwt:Secret or Auth:Jwt:SecretFile) or RS256 (with Auth:Jwt:PublicKeyFile)");
        }
        byte[]? secret = null;
        RSA? publicKey = null;
        if (algorithm == JwtAlgorithm.HS256)
        {
            if (ReadPath("Auth:Jwt:SecretFile") is { } secretFile)
            {
                secret = LoadFile("Auth:Jwt:SecretFile", secretFile, f => Encoding.UTF8.GetBytes(File.ReadAllText(f).Trim()), "a file holding the shared secret");
            }
            else if (Root["Auth:Jwt:Secret"] is { } text)
            {
                secret = Encoding.UTF8.GetBytes(text);
            }
            if (secret is null || secret.Length < 32)
            {
                throw Bad(secret is null ? "Auth:Jwt:Secret" : Root["Auth:Jwt:SecretFile"] is not null ? "Auth:Jwt:SecretFile" : "Auth:Jwt:Secret",
                    "must be a shared secret of at least 32 bytes for HS256 (e.g. from 'openssl rand -base64 48')");
            }
        }
        else
        {
            var keyFile = ReadPath("Auth:Jwt:PublicKeyFile") ?? throw Bad("Auth:Jwt:PublicKeyFile", "must name the PEM file of the issuer's RSA public key for RS256");
            publicKey = LoadFile("Auth:Jwt:PublicKeyFile", keyFile, f =>
            {
                var rsa = RSA.Create();
                try
                {
                    rsa.ImportFromPem(File.ReadAllText(f));
                }
                catch (ArgumentException ex)
                {
                    rsa.Dispose();
                    throw new FormatException("no RSA public key in PEM format: " + ex.Message, ex);
                }
                return rsa;
            }, "the PEM file of the issuer's RSA public key");
        }
        var skew = ReadNumber("Auth:Jwt:ClockSkewSeconds", 30, "must be a number of seconds, e.g. 30");
        var defaults = new JwtOptions();
        return new JwtAuthenticator(new JwtOptions
        {
            Algorithm = algorithm,
            Secret = secret,
            PublicKey = publicKey,
            Issuer = Root["Auth:Jwt:Issuer"],
            Audience = Root["Auth:Jwt:Audience"],
            Username = Root["Auth:Jwt:Username"],
            ClockSkew = TimeSpan.FromSeconds(skew),
            ClientIdClaim = Root["Auth:Jwt:ClientIdClaim"] ?? defaults.ClientIdClaim,
            UsernameClaim = Root["Auth:Jwt:UsernameClaim"] is { Length: > 0 } usernameClaim ? usernameClaim.Trim() : defaults.UsernameClaim,
            PublishClaim = Root["Auth:Jwt:PublishClaim"] ?? defaults.PublishClaim,
            SubscribeClaim = Root["Auth:Jwt:SubscribeClaim"] ?? defaults.SubscribeClaim,
        });
    }

    private void ReadTls(SecuritySettings settings, IReadOnlyList<ListenerSettings> listeners)
    {
        var indexes = Root.GetSection("Listeners").GetChildren().Select(c => c.Key).ToList();
        for (var n = 0; n < listeners.Count && n < Math.Max(1, indexes.Count); n++)
        {
            var index = indexes.Count > 0 ? indexes[n] : "0";
            var prefix = $"Listeners:{index}:Tls:";
            if (!s_tlsKeys.Any(k => Root[prefix + k] is not null))
            {
                continue;
            }
            var cert = ReadPath(prefix + "CertFile") ?? throw Bad(prefix + "CertFile", "must name the PEM file of the server certificate of a TLS listener");
            var key = ReadPath(prefix + "KeyFile") ?? throw Bad(prefix + "KeyFile", "must name the PEM file of the server certificate's private key");
            var ca = ReadPath(prefix + "CaFile");
            var modeText = Root[prefix + "ClientCertificate"]?.Trim() ?? "none";
            if (!Enum.TryParse<ClientCertificateMode>(modeText, ignoreCase: true, out var mode) || !Enum.IsDefined(mode) || int.TryParse(modeText, out _))
            {
                throw Bad(prefix + "ClientCertificate", "must be none, optional or required");
            }
            var identity = ReadBool(prefix + "UseIdentityAsUsername", false);
            if (mode != ClientCertificateMode.None && ca is null)
            {
                throw Bad(prefix + "CaFile", $"must name the PEM file of the CA that issues client certificates when {prefix}ClientCertificate is {modeText}");
            }
            if (identity && mode != ClientCertificateMode.Required)
            {
                throw Bad(prefix + "UseIdentityAsUsername", $"can only be true when {prefix}ClientCertificate is required");
            }
            foreach (var (k, path) in new[] { ("CertFile", cert), ("KeyFile", key), ("CaFile", ca) })
            {
                if (path is not null && !File.Exists(path))
                {
                    throw Bad(prefix + k, $"must name an existing PEM file, and '{path}' does not exist");
                }
            }
            var source = (Root[prefix + "IdentitySource"]?.Trim().ToUpperInvariant() ?? "CN") switch
            {
                "CN" => CertificateIdentitySource.CommonName,
                "DNS-SAN" => CertificateIdentitySource.DnsSan,
                "URI-SAN" => CertificateIdentitySource.UriSan,
                _ => throw Bad(prefix + "IdentitySource", "must be cn (the one CN of the subject), dns-san (the first DNS subject alternative name) or uri-san (the first URI one)"),
            };
            if (Root[prefix + "IdentitySource"] is not null && !identity)
            {
                throw Bad(prefix + "IdentitySource", $"only applies with {prefix}UseIdentityAsUsername=true");
            }
            var tls = new TlsSettings(listeners[n].Name, prefix, cert, key, ca, mode, identity, source);
            try
            {
                settings.Tls[listeners[n].Name] = new TlsListener(tls);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or InvalidOperationException or ArgumentException)
            {
                throw Bad(prefix + "CertFile", $"with {prefix}KeyFile{(ca is null ? "" : " and " + prefix + "CaFile")} cannot be used: {ex.Message}. Give PEM files of a certificate and its private key");
            }
        }
    }
}
