using System.Text;

namespace Starling.Security;

/// <summary>Access a rule grants; <see cref="Deny"/> takes access away.</summary>
[Flags]
public enum AclAccess : byte
{
    Deny = 0,
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
}

/// <summary>One <c>topic</c> or <c>pattern</c> line.</summary>
public sealed record AclRule(AclAccess Access, string Filter, bool IsPattern, int Line);

/// <summary>
/// A parsed ACL file in Mosquitto's syntax (see mosquitto.conf(5), acl_file):
/// <code>
/// # comment
/// topic read public/#          (before any 'user' line: anonymous clients)
/// user alice
/// topic readwrite alice/#      (alice only)
/// topic deny alice/secret
/// pattern write devices/%c/state   (every client; %c client id, %u username)
/// </code>
/// Immutable; a reload builds a new one.
/// </summary>
public sealed class AclFile
{
    private readonly Dictionary<string, AclRule[]> _users;

    private AclFile(AclRule[] anonymous, Dictionary<string, AclRule[]> users, AclRule[] patterns, string path)
    {
        Anonymous = anonymous;
        _users = users;
        Patterns = patterns;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Topic rules before the first <c>user</c> line: they apply to clients without a username.</summary>
    public IReadOnlyList<AclRule> Anonymous { get; }

    /// <summary>Pattern rules: they apply to every client.</summary>
    public IReadOnlyList<AclRule> Patterns { get; }

    /// <summary>The usernames that have a <c>user</c> block.</summary>
    public IReadOnlyCollection<string> Users => _users.Keys;

    public IReadOnlyList<AclRule> TopicsOf(string username) => _users.TryGetValue(username, out var rules) ? rules : [];

    public static AclFile Load(string path) => Parse(File.ReadAllText(path, Encoding.UTF8), path);

    /// <summary>Parses the text; throws <see cref="FormatException"/> naming the line for anything it does not understand.</summary>
    public static AclFile Parse(string text, string path)
    {
        var anonymous = new List<AclRule>();
        var users = new Dictionary<string, List<AclRule>>(StringComparer.Ordinal);
        var patterns = new List<AclRule>();
        List<AclRule> current = anonymous;
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r').Trim(' ', '\t');
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var (keyword, rest) = SplitWord(line);
            switch (keyword)
            {
                case "user":
                    if (rest.Length == 0)
                    {
                        throw new FormatException($"{path} line {lineNumber}: 'user' needs a username");
                    }
                    if (!users.TryGetValue(rest, out current!))
                    {
                        users[rest] = current = [];
                    }
                    break;
                case "topic":
                case "pattern":
                    var (access, filter) = ParseRule(rest, path, lineNumber, keyword);
                    var rule = new AclRule(access, filter, keyword == "pattern", lineNumber);
                    (keyword == "pattern" ? patterns : current).Add(rule);
                    break;
                default:
                    throw new FormatException($"{path} line {lineNumber}: unknown keyword '{keyword}' (expected user, topic or pattern)");
            }
        }
        return new AclFile([.. Ordered(anonymous)], users.ToDictionary(p => p.Key, p => Ordered(p.Value).ToArray(), StringComparer.Ordinal),
            [.. Ordered(patterns)], path);
    }

    // Deny rules are considered before the rules that grant access (mosquitto.conf(5)).
    private static IEnumerable<AclRule> Ordered(List<AclRule> rules)
        => rules.Where(r => r.Access == AclAccess.Deny).Concat(rules.Where(r => r.Access != AclAccess.Deny));

    private static (AclAccess, string) ParseRule(string rest, string path, int lineNumber, string keyword)
    {
        var (word, after) = SplitWord(rest);
        AclAccess? access = word switch
        {
            "read" => AclAccess.Read,
            "write" => AclAccess.Write,
            "readwrite" => AclAccess.ReadWrite,
            "deny" => AclAccess.Deny,
            _ => null,
        };
        // Without an access word the rest of the line is the topic, with read and write access.
        var filter = access is null || after.Length == 0 ? rest : after;
        if (filter.Length == 0)
        {
            throw new FormatException($"{path} line {lineNumber}: '{keyword}' needs a topic filter");
        }
        return (access is not null && after.Length > 0 ? access.Value : AclAccess.ReadWrite, filter);
    }

    private static (string Word, string Remainder) SplitWord(string s)
    {
        var at = s.IndexOfAny([' ', '\t']);
        return at < 0 ? (s, "") : (s[..at], s[(at + 1)..].Trim(' ', '\t'));
    }

    /// <summary>
    /// The rules for one client, with %c and %u substituted, in the order they are evaluated: its own topic rules
    /// (or the anonymous ones), then the patterns.
    /// </summary>
    internal CompiledAcl Compile(string clientId, string? username)
    {
        var own = username is null ? Anonymous : TopicsOf(username);
        var topics = new CompiledRule[own.Count];
        for (var i = 0; i < topics.Length; i++)
        {
            topics[i] = new CompiledRule(own[i].Access, own[i].Filter);
        }
        // Patterns substitute %c/%u as one whole level: a value with a wildcard (CVE-2017-7650) or a level separator
        // ('alice/inbox' would reach into alice's 'clients/%c/#') cannot be trusted there, so patterns deny it all.
        var dangerous = (username is not null && IsUnsafeLevel(username)) || IsUnsafeLevel(clientId);
        var patterns = new List<CompiledRule>(Patterns.Count);
        foreach (var p in Patterns)
        {
            var levels = p.Filter.Split('/');
            var skip = false;
            for (var i = 0; i < levels.Length; i++)
            {
                if (levels[i] == "%c")
                {
                    levels[i] = clientId;
                }
                else if (levels[i] == "%u")
                {
                    if (username is null)
                    {
                        skip = true;
                        break;
                    }
                    levels[i] = username;
                }
            }
            if (!skip)
            {
                patterns.Add(new CompiledRule(p.Access, string.Join('/', levels)));
            }
        }
        return new CompiledAcl(topics, [.. patterns], dangerous && Patterns.Count > 0);
    }

    private static bool IsUnsafeLevel(string value) => value.AsSpan().IndexOfAny('+', '#', '/') >= 0;
}
