using System.Security.Cryptography;
using System.Text;

namespace Starling.Security;

/// <summary>
/// Password hashes in the format of Mosquitto's password file (the format is the compatibility contract; the code is
/// ours): <c>$7$ITERATIONS$SALT$HASH</c> is PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte hash (mosquitto_passwd
/// 2.x writes 101 iterations); <c>$6$SALT$HASH</c> is SHA-512 over the password bytes followed by the salt bytes (Mosquitto
/// 1.6 and earlier). SALT and HASH are standard base64 with padding. Shared with the <c>starling passwd</c> command.
/// Starling's own <c>$s256$ITERATIONS$SALT$STOREDKEY$SERVERKEY</c> is a SCRAM-SHA-256 credential (RFC 5802/7677:
/// SaltedPassword = PBKDF2-HMAC-SHA256, StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")), ServerKey =
/// HMAC(SaltedPassword, "Server Key")); its parsed hash is StoredKey followed by ServerKey. Mosquitto cannot read it.
/// </summary>
public static class PasswordHash
{
    /// <summary>PBKDF2 iterations of a new <c>$7$</c> entry (what mosquitto_passwd 2.x writes).</summary>
    public const int DefaultIterations = 101;

    /// <summary>Salt bytes of a <c>$7$</c> entry.</summary>
    public const int SaltLength = 12;

    /// <summary>Hash bytes of a <c>$6$</c> or <c>$7$</c> entry (SHA-512 size).</summary>
    public const int HashLength = 64;

    /// <summary>Kind of a <c>$s256$</c> entry (SCRAM-SHA-256 keys).</summary>
    public const int ScramSha256Kind = 256;

    /// <summary>PBKDF2-HMAC-SHA256 iterations of a new <c>$s256$</c> entry (RFC 7677's minimum).</summary>
    public const int ScramSha256Iterations = 4096;

    /// <summary>Salt bytes of a new <c>$s256$</c> entry.</summary>
    public const int ScramSha256SaltLength = 16;

    /// <summary>A new <c>$s256$</c> entry value (SCRAM-SHA-256 StoredKey and ServerKey) for <paramref name="password"/>.</summary>
    public static string CreateScramSha256(string password, int iterations = ScramSha256Iterations)
    {
        Span<byte> salt = stackalloc byte[ScramSha256SaltLength];
        RandomNumberGenerator.Fill(salt);
        Span<byte> keys = stackalloc byte[64];
        ScramSha256Keys(Encoding.UTF8.GetBytes(password), salt, iterations, keys);
        return $"$s256${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(keys[..32])}${Convert.ToBase64String(keys[32..])}";
    }

    /// <summary>StoredKey (32 bytes) then ServerKey (32 bytes) of SCRAM-SHA-256 into <paramref name="keys"/>.</summary>
    public static void ScramSha256Keys(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int iterations, Span<byte> keys)
    {
        Span<byte> salted = stackalloc byte[32];
        Span<byte> clientKey = stackalloc byte[32];
        Rfc2898DeriveBytes.Pbkdf2(password, salt, salted, iterations, HashAlgorithmName.SHA256);
        HMACSHA256.HashData(salted, "Client Key"u8, clientKey);
        SHA256.HashData(clientKey, keys[..32]);
        HMACSHA256.HashData(salted, "Server Key"u8, keys[32..64]);
        CryptographicOperations.ZeroMemory(salted);
        CryptographicOperations.ZeroMemory(clientKey);
    }

    /// <summary>A new <c>$7$</c> entry value for <paramref name="password"/> with a random salt.</summary>
    public static string Create(string password, int iterations = DefaultIterations)
    {
        Span<byte> salt = stackalloc byte[SaltLength];
        RandomNumberGenerator.Fill(salt);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA512, HashLength);
        return $"$7${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Whether <paramref name="value"/> looks like an entry this code can check ($6$, $7$ or $s256$).</summary>
    public static bool IsHashed(string value) => TryParse(value, out _, out _, out _, out _);

    /// <summary>Splits an entry value; false (with nothing usable) for anything malformed.</summary>
    public static bool TryParse(string value, out int kind, out int iterations, out byte[] salt, out byte[] hash)
    {
        kind = 0;
        iterations = 0;
        salt = [];
        hash = [];
        var parts = value.Split('$');
        try
        {
            if (parts is ["", "7", var it, var s, var h]
                && int.TryParse(it, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out iterations)
                && iterations is > 0 and <= 10_000_000)
            {
                salt = Convert.FromBase64String(s);
                hash = Convert.FromBase64String(h);
                kind = 7;
            }
            else if (parts is ["", "s256", var its, var ss, var stored, var server]
                && int.TryParse(its, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out iterations)
                && iterations is > 0 and <= 10_000_000)
            {
                salt = Convert.FromBase64String(ss);
                hash = [.. Convert.FromBase64String(stored), .. Convert.FromBase64String(server)];
                kind = hash.Length == 64 ? ScramSha256Kind : 0;
            }
            else if (parts is ["", "6", var s6, var h6])
            {
                salt = Convert.FromBase64String(s6);
                hash = Convert.FromBase64String(h6);
                kind = 6;
            }
        }
        catch (FormatException)
        {
            return false;
        }
        return kind != 0 && salt.Length > 0 && hash.Length is > 0 and <= 64 && (kind != 6 || hash.Length == 64);
    }

    /// <summary>Checks <paramref name="password"/> against a parsed entry in constant time (for the entry's hash length).</summary>
    public static bool Verify(ReadOnlySpan<byte> password, int kind, int iterations, byte[] salt, byte[] hash)
    {
        Span<byte> computed = stackalloc byte[64];
        computed = computed[..hash.Length];
        if (kind == ScramSha256Kind)
        {
            // Recompute the SCRAM keys from the password; StoredKey alone decides.
            ScramSha256Keys(password, salt, iterations, computed);
            return CryptographicOperations.FixedTimeEquals(computed[..32], hash.AsSpan(0, 32));
        }
        if (kind == 7)
        {
            Rfc2898DeriveBytes.Pbkdf2(password, salt, computed, iterations, HashAlgorithmName.SHA512);
        }
        else
        {
            // SHA-512(password || salt), incrementally so the password is not copied.
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            sha.AppendData(password);
            sha.AppendData(salt);
            Span<byte> full = stackalloc byte[64];
            sha.GetHashAndReset(full);
            full[..computed.Length].CopyTo(computed);
        }
        return CryptographicOperations.FixedTimeEquals(computed, hash);
    }
}
