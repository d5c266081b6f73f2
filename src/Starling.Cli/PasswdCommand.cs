using System.CommandLine;
using System.Text;
using Starling.Security;

namespace Starling.Cli;

/// <summary>
/// <c>starling passwd</c>: manage a Mosquitto-format password file, like mosquitto_passwd. Entries are written as
/// <c>user:$7$101$salt$hash</c> (PBKDF2-SHA512), which Mosquitto 2 reads too; $6$ entries are read and kept.
/// </summary>
internal static class PasswdCommand
{
    public static Command Create()
    {
        var create = new Option<bool>("-c") { Description = "Create a new password file, overwriting an existing one." };
        var batch = new Option<bool>("-b") { Description = "Batch mode: take the password from the command line." };
        var delete = new Option<bool>("-D") { Description = "Delete the user instead of setting the password." };
        var update = new Option<bool>("-U") { Description = "Convert a plain-text password file (user:password lines) to hashed passwords." };
        var scram256 = new Option<bool>("--scram-sha-256")
        {
            Description = "Write a SCRAM-SHA-256 credential ($s256$, Starling only: Mosquitto cannot read it) instead of a $7$ hash.",
        };
        var file = new Argument<string>("file") { Description = "The password file." };
        var username = new Argument<string?>("username") { Description = "The user to add, change or delete.", Arity = ArgumentArity.ZeroOrOne };
        var password = new Argument<string?>("password") { Description = "The password (with -b).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("passwd", "Manage a password file (like mosquitto_passwd): starling passwd [-c] [-b] [-D] [-U] [--scram-sha-256] file username [password]");
        foreach (var option in new Option[] { create, batch, delete, update, scram256 })
        {
            command.Options.Add(option);
        }
        command.Arguments.Add(file);
        command.Arguments.Add(username);
        command.Arguments.Add(password);
        command.SetAction(parse => Run(parse.GetValue(create), parse.GetValue(batch), parse.GetValue(delete), parse.GetValue(update),
            parse.GetValue(file)!, parse.GetValue(username), parse.GetValue(password), parse.GetValue(scram256)));
        return command;
    }

    internal static int Run(bool create, bool batch, bool delete, bool update, string file, string? username, string? password, bool scramSha256 = false)
    {
        try
        {
            if (create && delete)
            {
                return Fail("-c and -D cannot be used together.");
            }
            if (update)
            {
                return create || delete || batch || username is not null ? Fail("-U takes only the password file.") : Update(file);
            }
            if (username is null)
            {
                return Fail(create ? "-c argument given but password file or username missing." : "password file or username missing.");
            }
            if (username.Contains(':', StringComparison.Ordinal))
            {
                return Fail("Username must not contain the ':' character.");
            }
            if (batch != (password is not null) && !delete)
            {
                return Fail(batch ? "-b needs the password after the username." : "give the password only with -b.");
            }
            if (delete)
            {
                return Delete(file, username);
            }
            password ??= Prompt();
            if (password is null)
            {
                return 1;
            }
            var entry = username + ":" + (scramSha256 ? PasswordHash.CreateScramSha256(password) : PasswordHash.Create(password));
            if (create)
            {
                WriteAtomically(file, [entry]);
                return 0;
            }
            if (!File.Exists(file))
            {
                return Fail($"Unable to open password file {file}. No such file or directory.");
            }
            var lines = ReadLines(file);
            var at = lines.FindIndex(l => UserOf(l) == username);
            if (at >= 0)
            {
                lines[at] = entry;
            }
            else
            {
                lines.Add(entry);
            }
            WriteAtomically(file, lines);
            return 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail(ex.Message);
        }
    }

    private static int Delete(string file, string username)
    {
        if (!File.Exists(file))
        {
            return Fail($"Unable to open password file {file}. No such file or directory.");
        }
        var lines = ReadLines(file);
        var removed = lines.RemoveAll(l => UserOf(l) == username);
        if (removed == 0)
        {
            Console.Error.WriteLine($"Warning: User {username} not found in password file.");
            return 1;
        }
        WriteAtomically(file, lines);
        return 0;
    }

    private static int Update(string file)
    {
        if (!File.Exists(file))
        {
            return Fail($"Unable to open password file {file}. No such file or directory.");
        }
        var lines = ReadLines(file);
        for (var i = 0; i < lines.Count; i++)
        {
            var user = UserOf(lines[i]);
            if (user is null)
            {
                continue;
            }
            var value = lines[i][(user.Length + 1)..];
            // Entries already hashed stay as they are (converting twice would make the hash the password).
            if (!PasswordHash.IsHashed(value))
            {
                lines[i] = user + ":" + PasswordHash.Create(value);
            }
        }
        WriteAtomically(file, lines);
        return 0;
    }

    /// <summary>The username of an entry line; null for comments and blank lines.</summary>
    private static string? UserOf(string line)
    {
        if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#'))
        {
            return null;
        }
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? null : line[..colon];
    }

    private static List<string> ReadLines(string file)
    {
        var lines = File.ReadAllText(file, Encoding.UTF8).Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }
        return lines;
    }

    private static void WriteAtomically(string file, IEnumerable<string> lines)
    {
        var full = Path.GetFullPath(file);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + ".tmp" + Environment.ProcessId);
        // Like mosquitto_passwd: a new file gets the default mode (umask), a rewritten one keeps its mode. Mosquitto drops
        // root to its own user before it reads the file, so a root-only file would lock it out.
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows() && File.Exists(full))
        {
            options.UnixCreateMode = File.GetUnixFileMode(full);
        }
        using (var stream = new FileStream(temp, options))
        using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
        {
            foreach (var line in lines)
            {
                writer.Write(line);
                writer.Write('\n');
            }
        }
        File.Move(temp, full, overwrite: true);
    }

    private static string? Prompt()
    {
        var first = ReadSecret("Password: ");
        var second = ReadSecret("Reenter password: ");
        if (first is null || second is null)
        {
            Fail("No password given.");
            return null;
        }
        if (first != second)
        {
            Fail("Passwords do not match.");
            return null;
        }
        return first;
    }

    private static string? ReadSecret(string prompt)
    {
        Console.Error.Write(prompt);
        if (Console.IsInputRedirected)
        {
            var line = Console.ReadLine();
            Console.Error.WriteLine();
            return line;
        }
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.Error.WriteLine();
                return text.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
                continue;
            }
            text.Append(key.KeyChar);
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("Error: " + message);
        return 1;
    }
}
