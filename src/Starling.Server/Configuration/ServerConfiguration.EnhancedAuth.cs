using System.Security.Cryptography;
using Starling.Broker;
using Starling.Broker.Security.EnhancedAuth;
using Starling.Security;

namespace Starling.Server;

/// <summary>Auth:EnhancedMethods: the MQTT 5 enhanced authentication methods (docs/security.md).</summary>
internal sealed partial class ServerConfiguration
{
    private static readonly string[] s_enhancedMethods = ["SCRAM-SHA-256", "SCRAM-SHA-512"];

    /// <summary>
    /// Opt-in for methods whose stored secret is enough to log in (SCRAM-SHA-512 over $7$ entries): off, a stolen
    /// password file would otherwise be a key to every account.
    /// </summary>
    private const string HashEquivalentKey = "Auth:AllowHashEquivalentMethods";

    /// <summary>
    /// A list (<c>Auth:EnhancedMethods:0</c>, ...) or one comma-separated value; empty or "none" for none. Default:
    /// SCRAM-SHA-256 when a password file is configured (and SCRAM-SHA-512 too with Auth:AllowHashEquivalentMethods),
    /// none otherwise. SCRAM-SHA-512 is refused without Auth:AllowHashEquivalentMethods.
    /// </summary>
    private void ReadEnhancedMethods(BrokerOptions broker, PasswordFileAuthenticator? passwords)
    {
        const string key = "Auth:EnhancedMethods";
        var hashEquivalent = ReadBool(HashEquivalentKey, false);
        var section = Root.GetSection(key);
        List<string> names;
        if (section.Value is { } text)
        {
            names = [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        }
        else if (section.GetChildren().Any())
        {
            names = [.. section.GetChildren().Select(c => c.Value?.Trim() ?? "").Where(v => v.Length > 0)];
        }
        else
        {
            names = passwords is null ? [] : hashEquivalent ? [.. s_enhancedMethods] : ["SCRAM-SHA-256"];
        }
        if (names is [var only] && only.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            names = [];
        }
        if (names.Count == 0)
        {
            return;
        }
        if (passwords is null)
        {
            throw Bad(key, "must be empty or none without Auth:PasswordFile (the SCRAM methods check the password file's users)");
        }
        // Fake salts for unknown users come from this secret: stable for the process, so a repeated probe sees the same salt.
        var secret = RandomNumberGenerator.GetBytes(32);
        foreach (var name in names.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var hash = name.ToUpperInvariant() switch
            {
                "SCRAM-SHA-256" => ScramHash.Sha256,
                "SCRAM-SHA-512" when hashEquivalent => ScramHash.Sha512,
                "SCRAM-SHA-512" => throw Bad(key, $"lists SCRAM-SHA-512, which logs in with the $7$ hash itself (a copy of the password file is enough to log in as "
                    + $"every user): set {HashEquivalentKey}=true to accept that risk, or use SCRAM-SHA-256 with $s256$ entries ('starling passwd --scram-sha-256')"),
                _ => throw Bad(key, $"must list SCRAM-SHA-256 and/or SCRAM-SHA-512 (or be none), and '{name}' is not one of them"),
            };
            broker.Security.EnhancedAuthenticators.Add(new ScramAuthenticator(hash, passwords, secret));
        }
    }
}
