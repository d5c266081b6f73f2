namespace Starling.Storage.Sqlite;

/// <summary>
/// File-system permissions of the store (issue 16, finding 4): the data directory is created owner-only (0700) and the
/// database file owner-read/write (0600) before SQLite first opens it. SQLite's Unix VFS gives the files it creates
/// next to the database (the -wal write-ahead log, a -journal, a -shm) the database file's permissions, so they are
/// 0600 too. Existing directories and files keep their mode (an operator may have chosen it); <see cref="LooseAccess"/>
/// says when they are readable by group or others, for a warning at start-up. Unix only: on Windows nothing is changed
/// and nothing is reported (ACLs are inherited from the parent folder).
/// </summary>
internal static class SqliteFiles
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Readable = UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Creates <paramref name="directory"/> (0700) when it is missing; its parents are created as usual.</summary>
    internal static void CreateDirectory(string directory)
    {
        if (OperatingSystem.IsWindows() || Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
            return;
        }
        if (Path.GetDirectoryName(directory) is { Length: > 0 } parent)
        {
            Directory.CreateDirectory(parent);
        }
        Directory.CreateDirectory(directory, OwnerOnlyDirectory);
    }

    /// <summary>Creates an empty database file (0600) when there is none; SQLite takes an empty file as a new database.</summary>
    internal static void CreateDatabaseFile(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path))
        {
            return;
        }
        try
        {
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = OwnerOnlyFile,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Created meanwhile (another process): SQLite opens it as it is, and its lock decides who runs.
        }
    }

    /// <summary>
    /// What in the data directory others can read (the directory or the database file, readable by group or others);
    /// null when nothing, or on Windows.
    /// </summary>
    internal static string? LooseAccess(string directory, string databaseFile)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        var loose = new List<string>(2);
        if (Directory.Exists(directory) && (File.GetUnixFileMode(directory) & Readable) != 0)
        {
            loose.Add($"the data directory {directory} ({Octal(File.GetUnixFileMode(directory))})");
        }
        if (File.Exists(databaseFile) && (File.GetUnixFileMode(databaseFile) & Readable) != 0)
        {
            loose.Add($"the database file {databaseFile} ({Octal(File.GetUnixFileMode(databaseFile))})");
        }
        return loose.Count == 0 ? null : string.Join(" and ", loose);
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8);
}
