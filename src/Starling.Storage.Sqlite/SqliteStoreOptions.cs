namespace Starling.Storage.Sqlite;

/// <summary>How hard SQLite works to keep a commit through failures.</summary>
public enum SqliteDurability
{
    /// <summary>
    /// WAL with synchronous=NORMAL (the default): a commit is written to the WAL file (the OS page cache) before the
    /// broker acknowledges, and is fsynced at checkpoints. Survives a crash or kill -9 of the process, since the page
    /// cache belongs to the kernel; a power loss or kernel crash may lose the last commits (never corrupts the file).
    /// </summary>
    Process,

    /// <summary>WAL with synchronous=FULL: every commit is fsynced before the broker acknowledges. Survives power loss; slower.</summary>
    PowerLoss,
}

/// <summary>Settings of <see cref="SqliteStore"/>.</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>See <see cref="SqliteDurability"/>; <see cref="SqliteDurability.Process"/> by default.</summary>
    public SqliteDurability Durability { get; set; } = SqliteDurability.Process;

    /// <summary>Run PRAGMA integrity_check (reads every page) instead of quick_check when opening.</summary>
    public bool FullIntegrityCheck { get; set; }

    /// <summary>
    /// Largest size of the database file in bytes (0 = no limit; the server's Storage:MaxDatabaseSize, 1 GiB by default).
    /// The broker refuses messages that would have to be stored once nine tenths are used (<see cref="Broker.Storage.ISizedStore"/>);
    /// the limit itself makes writes fail as on a full disk, and acknowledgements of durable messages are held back.
    /// </summary>
    public long MaxDatabaseSizeBytes { get; set; }
}
