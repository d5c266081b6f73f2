using System.Security.Cryptography;
using System.Text;

namespace Starling.Broker.Security;

/// <summary>
/// Password hashes in the format of Mosquitto's password file (the format is the compatibility contract; the code is
/// ours): <c>$7$ITERATIONS$SALT$HASH</c> is PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte hash (mosquitto_passwd
/// 2.x writes 101 iterations); <c>$6$SALT$HASH</c> is SHA-512 over the password bytes followed by the salt bytes (Mosquitto
/// 1.6 and earlier). SALT and HASH are standard base64 with padding. Shared with the <c>starling passwd</c> command.
/// </summary>
internal static class PasswordHash
{
    public const int DefaultIterations = 101;
    public const int SaltLength = 12;
    public const int HashLength = 64;

    /// <summary>A new <c>$7$</c> entry value for <paramref name="password"/> with a random salt.</summary>
    public static string Create(string password, int iterations = DefaultIterations)
    {
        Span<byte> salt = stackalloc byte[SaltLength];
        RandomNumberGenerator.Fill(salt);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA512, HashLength);
        return $"$7${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>Whether <paramref name="value"/> looks like an entry this code can check ($6$ or $7$).</summary>
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
