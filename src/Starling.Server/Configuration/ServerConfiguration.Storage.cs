using Starling.Broker.Storage;
using Starling.Server.Logging;
using Starling.Storage.Sqlite;

namespace Starling.Server;

/// <summary>Where the broker keeps its durable state (Storage:* keys, --data-dir, --memory).</summary>
/// <param name="Mode">"sqlite" (default): one SQLite file in <paramref name="DataDirectory"/>; "memory": nothing survives a restart.</param>
/// <param name="DataDirectory">Absolute path of the data directory (sqlite mode).</param>
/// <param name="Durability">What an acknowledged message survives: process crashes (default) or power loss.</param>
internal sealed record StorageSettings(string Mode, string DataDirectory, SqliteDurability Durability)
{
    public const string Sqlite = "sqlite";
    public const string Memory = "memory";

    public static StorageSettings Default { get; } = new(Sqlite, Path.GetFullPath("data"), SqliteDurability.Process);

    public bool IsMemory => Mode == Memory;

    /// <summary>Opens the store (null in memory mode); a <see cref="StoreException"/> says which file and what to do.</summary>
    public IStore? Open(ILogger logger)
    {
        if (IsMemory)
        {
            ServerLog.StorageMemoryOnly(logger);
            return null;
        }
        var store = SqliteStore.Open(DataDirectory, new SqliteStoreOptions { Durability = Durability });
        ServerLog.StorageOpened(logger, store.Description, Durability == SqliteDurability.PowerLoss ? "FULL" : "NORMAL",
            Durability == SqliteDurability.PowerLoss ? "power loss" : "a crash or kill of the process");
        return store;
    }
}

internal sealed partial class ServerConfiguration
{
    private static readonly string[] s_storageKeys = ["Mode", "DataDirectory", "Durability"];

    private static bool IsKnownStorageKey(string[] parts)
        => parts.Length == 2 && parts[0].Equals("Storage", StringComparison.OrdinalIgnoreCase)
           && s_storageKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase);

    private StorageSettings ReadStorage()
    {
        var mode = (Root["Storage:Mode"] ?? StorageSettings.Sqlite).Trim().ToLowerInvariant();
        if (mode is not (StorageSettings.Sqlite or StorageSettings.Memory))
        {
            throw Bad("Storage:Mode", "must be sqlite (durable, the default) or memory (nothing survives a restart)");
        }
        var directory = Root["Storage:DataDirectory"];
        if (directory is not null && string.IsNullOrWhiteSpace(directory))
        {
            throw Bad("Storage:DataDirectory", "must be a directory path such as ./data or /var/lib/starling");
        }
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(directory ?? "data");
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw Bad("Storage:DataDirectory", "must be a valid directory path such as ./data or /var/lib/starling");
        }
        var durability = (Root["Storage:Durability"] ?? "process").Trim().ToLowerInvariant() switch
        {
            "process" => SqliteDurability.Process,
            "power" or "powerloss" => SqliteDurability.PowerLoss,
            _ => throw Bad("Storage:Durability", "must be process (WAL, synchronous=NORMAL: survives a crash of the process, the default) " +
                "or power (synchronous=FULL: also survives power loss, slower)"),
        };
        return new StorageSettings(mode, fullPath, durability);
    }
}
