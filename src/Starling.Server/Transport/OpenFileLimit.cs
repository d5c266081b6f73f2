using System.Globalization;

namespace Starling.Server.Transport;

/// <summary>
/// How many connections the process can hold open before it runs out of file descriptors. Running out is not a
/// refused socket but a dead broker: the .NET runtime aborts ("Out of memory.") when it cannot create a thread (each
/// needs a pipe), and assemblies loaded on first use fail to open. So the default of Limits:MaxOpenConnections is the
/// soft RLIMIT_NOFILE minus the descriptors open at start-up (runtime assemblies, listeners, the store: counted and
/// estimated by <see cref="OpenFileBudget"/>) minus a reserve for what it opens later (threads, assemblies, the
/// store's journal, management and bridge sockets).
/// </summary>
internal static class OpenFileLimit
{
    /// <summary>The soft open-file limit, or null where it is unknown or unlimited (not Linux, no /proc).</summary>
    public static int? ReadSoftLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    return ParseLimitsLine(line);
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>"Max open files  20000  20000  files" -> 20000 (the soft column); "unlimited" or garbage -> null.</summary>
    public static int? ParseLimitsLine(string line)
    {
        var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 0 && int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) && soft > 0
            ? soft
            : null;
    }

    /// <summary>Descriptors the process holds now, or null where /proc/self/fd is not there.</summary>
    public static int? CountOpen()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Descriptors kept free for the process itself: a tenth of the limit, at least 64 and at most 1,000.</summary>
    public static int Reserve(int limit) => Math.Clamp(limit / 10, 64, 1000);

    /// <summary>Connections that fit: the limit, less what is open and the reserve (at least 1).</summary>
    public static int ConnectionCapacity(int limit, int open) => Math.Max(1, limit - open - Reserve(limit));
}
