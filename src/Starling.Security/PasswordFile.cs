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

    private PasswordFile(Dictionary<string, Entry> users, string path)
    {
        _users = users;
        Path = path;
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
        PasswordHash.Verify(password, 7, PasswordHash.DefaultIterations, s_dummySalt, s_dummyHash);
        return false;
    }

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

    private static readonly byte[] s_dummySalt = RandomNumberGenerator.GetBytes(PasswordHash.SaltLength);
    private static readonly byte[] s_dummyHash = RandomNumberGenerator.GetBytes(PasswordHash.HashLength);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Path} ({Count} users)");

    private sealed record Entry(int Kind, int Iterations, byte[] Salt, byte[] Hash);
}
