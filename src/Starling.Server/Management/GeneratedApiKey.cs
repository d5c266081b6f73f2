using Starling.Server.Logging;

namespace Starling.Server.Management;

/// <summary>
/// Hands the management API key generated for this run (no Management:ApiKeys) to the operator without putting it
/// where others read it. On a terminal it is printed once to standard error. When standard error is not a terminal
/// (systemd/journald, Docker, a redirect: captured into logs other users may read) it is written to
/// <c>DATA_DIR/management-api-key</c>, a file created with mode 0600 (owner only) from the start, and only the file's
/// path is printed and logged. The key never reaches the logger.
/// </summary>
internal static class GeneratedApiKey
{
    /// <summary>The file's name in the data directory.</summary>
    public const string FileName = "management-api-key";

    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnlyFile | UnixFileMode.UserExecute;

    public static void Announce(string key, string dataDirectory, ILogger logger)
    {
        if (!Console.IsErrorRedirected)
        {
            Console.Error.WriteLine($"Management API key of this run: {key} (set Management:ApiKeys to choose keys that last)");
            ManagementLog.ApiKeyGenerated(logger);
            return;
        }
        var path = Path.Combine(dataDirectory, FileName);
        try
        {
            Write(path, key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Without the file the key is unusable: say so and how to fix it, still without the key.
            ManagementLog.ApiKeyFileFailed(logger, path, ex.Message);
            return;
        }
        Console.Error.WriteLine($"Management API key of this run written to {path} (readable only by this user; set Management:ApiKeys to choose keys that last)");
        ManagementLog.ApiKeyWrittenToFile(logger, path);
    }

    // A file left by an earlier run is replaced, not rewritten: its mode may be looser than 0600, and a symbolic link
    // planted there must not redirect the key. CreateNew creates the file with the mode given (no window where it is
    // readable by others), and fails if something reappeared in between.
    private static void Write(string path, string key)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
        }
        else
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnlyFile;
        }
        using var writer = new StreamWriter(path, options);
        writer.WriteLine(key);
    }
}
