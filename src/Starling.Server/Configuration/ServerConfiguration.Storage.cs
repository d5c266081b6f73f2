using Starling.Broker.Storage;
using Starling.Server.Logging;
using Starling.Storage.Sqlite;

namespace Starling.Server;

/// <summary>Where the broker keeps its durable state (Storage:* keys, --data-dir, --memory).</summary>
/// <param name="Mode">"sqlite" (default): one SQLite file in <paramref name="DataDirectory"/>; "memory": nothing survives a restart.</param>
/// <param name="DataDirectory">Absolute path of the data directory (sqlite mode).</param>
/// <param name="Durability">What an acknowledged message survives: process crashes (default) or power loss.</param>
/// <param name="MaxDatabaseSizeBytes">Storage:MaxDatabaseSize: largest size of the SQLite file (0 = no limit).</param>
internal sealed record StorageSettings(string Mode, string DataDirectory, SqliteDurability Durability, long MaxDatabaseSizeBytes = StorageSettings.DefaultMaxDatabaseSize)
{
    public const string Sqlite = "sqlite";
    public const string Memory = "memory";

    /// <summary>
    /// 1 GiB: far above what normal use keeps (offline sessions' queues are bounded by Limits:MaxQueuedMessages and
    /// MaxQueuedBytes), small enough that clients cannot fill the disk that holds it.
    /// </summary>
    public const long DefaultMaxDatabaseSize = 1024L * 1024 * 1024;

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
        var store = SqliteStore.Open(DataDirectory, new SqliteStoreOptions { Durability = Durability, MaxDatabaseSizeBytes = MaxDatabaseSizeBytes });
        ServerLog.StorageOpened(logger, store.Description, Durability == SqliteDurability.PowerLoss ? "FULL" : "NORMAL",
            Durability == SqliteDurability.PowerLoss ? "power loss" : "a crash or kill of the process");
        if (store.LooseAccess is { } loose)
        {
            ServerLog.StorageReadableByOthers(logger, loose);
        }
        return store;
    }
}

internal sealed partial class ServerConfiguration
{
    private static readonly string[] s_storageKeys = ["Mode", "DataDirectory", "Durability", "MaxDatabaseSize", "MaxWriteQueueOperations", "MaxWriteQueueBytes"];

    /// <summary>The store writer's queue limits (Storage:MaxWriteQueueOperations, Storage:MaxWriteQueueBytes), kept by the broker.</summary>
    private void ReadStorageLimits(Starling.Broker.BrokerOptions broker)
    {
        broker.StoreMaxQueuedOperations = ReadLong("Storage:MaxWriteQueueOperations", broker.StoreMaxQueuedOperations);
        broker.StoreMaxQueuedBytes = ReadLong("Storage:MaxWriteQueueBytes", broker.StoreMaxQueuedBytes);
    }

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
        var maxSize = ReadLong("Storage:MaxDatabaseSize", StorageSettings.DefaultMaxDatabaseSize);
        if (maxSize != 0 && maxSize < 1024 * 1024)
        {
            throw Bad("Storage:MaxDatabaseSize", "must be 0 (no limit) or a size in bytes of at least 1048576 (1 MiB), e.g. 1073741824 for 1 GiB");
        }
        return new StorageSettings(mode, fullPath, durability, maxSize);
    }
}
