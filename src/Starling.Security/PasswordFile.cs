using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Starling.Security;

/// <summary>
/// A parsed Mosquitto password file: one <c>username:hash</c> per line, <c>#</c> comments and blank lines ignored.
/// Immutable; a reload builds a new one.
/// </summary>
public sealed class PasswordFile
{
    private readonly Dictionary<string, Entry> _users;

    // Checked instead of a real entry for a user who is not in the file: the kind and iteration count most entries
    // have (so an unknown name costs what a typical known one does), with a random salt and hash that never match.
    private readonly Entry _dummy;

    private PasswordFile(Dictionary<string, Entry> users, string path)
    {
        _users = users;
        Path = path;
        var typical = users.Values.GroupBy(e => (e.Kind, e.Iterations)).OrderByDescending(g => g.Count()).FirstOrDefault()?.First();
        _dummy = typical is null
            ? new Entry(7, PasswordHash.DefaultIterations, RandomNumberGenerator.GetBytes(PasswordHash.SaltLength), RandomNumberGenerator.GetBytes(PasswordHash.HashLength))
            : new Entry(typical.Kind, typical.Iterations, RandomNumberGenerator.GetBytes(typical.Salt.Length), RandomNumberGenerator.GetBytes(typical.Hash.Length));
    }

    public string Path { get; }

    public int Count => _users.Count;

    public bool Contains(string username) => _users.ContainsKey(username);

    /// <summary>Reads and checks the whole file; throws <see cref="FormatException"/> naming the line for anything malformed.</summary>
    public static PasswordFile Load(string path)
    {
        var text = File.ReadAllText(path, Encoding.UTF8);
        return Parse(text, path);
    }

    public static PasswordFile Parse(string text, string path)
    {
        var users = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#'))
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                throw new FormatException($"{path} line {lineNumber}: expected 'username:hash' (create entries with 'starling passwd' or mosquitto_passwd)");
            }
            var user = line[..colon];
            var value = line[(colon + 1)..].Trim();
            if (!PasswordHash.TryParse(value, out var kind, out var iterations, out var salt, out var hash))
            {
                throw new FormatException(
                    $"{path} line {lineNumber}: the password of '{user}' is not a $6$, $7$ or $s256$ hash (plain-text files must be converted with 'starling passwd -U {path}')");
            }
            users[user] = new Entry(kind, iterations, salt, hash);
        }
        return new PasswordFile(users, path);
    }

    /// <summary>Checks a password; unknown users cost the same as known ones so timing does not reveal names.</summary>
    public bool Verify(string username, ReadOnlySpan<byte> password)
    {
        if (_users.TryGetValue(username, out var entry))
        {
            return PasswordHash.Verify(password, entry.Kind, entry.Iterations, entry.Salt, entry.Hash);
        }
        VerifyDummy(password);
        return false;
    }

    /// <summary>
    /// Spends what checking a typical entry costs, and fails: for paths that must not be faster than a real check
    /// (an unknown user, a known user without a password), so timing does not tell which names exist.
    /// </summary>
    public void VerifyDummy(ReadOnlySpan<byte> password)
        => PasswordHash.Verify(password, _dummy.Kind, _dummy.Iterations, _dummy.Salt, _dummy.Hash);

    /// <summary>The parsed entry of <paramref name="username"/> (kind 6, 7 or <see cref="PasswordHash.ScramSha256Kind"/>), for SCRAM.</summary>
    internal bool TryGetEntry(string username, out int kind, out int iterations, out byte[] salt, out byte[] hash)
    {
        if (_users.TryGetValue(username, out var entry))
        {
            (kind, iterations, salt, hash) = (entry.Kind, entry.Iterations, entry.Salt, entry.Hash);
            return true;
        }
        (kind, iterations, salt, hash) = (0, 0, [], []);
        return false;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Path} ({Count} users)");

    private sealed record Entry(int Kind, int Iterations, byte[] Salt, byte[] Hash);
}
