using System.Data;
using Microsoft.Data.Sqlite;
using Starling.Broker.Storage;
using Starling.Protocol;
using static Starling.Storage.Sqlite.SqliteCommands;
using static Starling.Storage.Sqlite.SqliteErrors;
using static Starling.Storage.Sqlite.SqliteRows;

namespace Starling.Storage.Sqlite;

/// <summary>
/// The embedded default <see cref="IStore"/>: one SQLite file (<see cref="FileName"/>) in the data directory, WAL mode,
/// one connection used by the broker's single writer thread, prepared statements reused for every batch. The schema
/// and the durability rule are described in docs/architecture.md ("Storage").
/// Opening checks the file (PRAGMA quick_check) and takes an exclusive lock, so a damaged file or a second broker on
/// the same directory stops start-up with a message instead of losing state.
/// </summary>
public sealed partial class SqliteStore : IStore, ISizedStore
{
    /// <summary>The database file's name in the data directory.</summary>
    public const string FileName = "starling.db";

    private readonly SqliteConnection _connection;
    private readonly string _path;
    private readonly Statements _sql;
    private readonly HashSet<long> _writtenMessages = [];
    private readonly HashSet<long> _candidates = [];
    private bool _disposed;

    private SqliteStore(SqliteConnection connection, string path, long maxSizeBytes)
    {
        _connection = connection;
        _path = path;
        _sql = new Statements(connection);
        MaxSizeBytes = maxSizeBytes;
    }

    /// <summary><see cref="SqliteStoreOptions.MaxDatabaseSizeBytes"/> (0 = none).</summary>
    public long MaxSizeBytes { get; }

    /// <summary>Pages in use (all pages but the free list) times the page size: what the size limit counts.</summary>
    public long SizeBytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                var pages = (long)Scalar(_connection, "PRAGMA page_count;")! - (long)Scalar(_connection, "PRAGMA freelist_count;")!;
                return pages * (long)Scalar(_connection, "PRAGMA page_size;")!;
            }
            catch (SqliteException ex)
            {
                throw Translate(ex, _path, "read");
            }
        }
    }

    /// <summary>The database file.</summary>
    public string FilePath => _path;

    public string Description => $"SQLite database {_path}";

    /// <summary>
    /// Set when the data directory or the database file is readable by group or others (Unix; a warning at start-up):
    /// names them and their modes. Null when they are owner-only, as the store creates them.
    /// </summary>
    public string? LooseAccess { get; private init; }

    /// <summary>
    /// Opens (creating when needed) the store in <paramref name="dataDirectory"/>: creates the directory, checks the
    /// file's integrity, sets WAL mode and the durability level, takes an exclusive lock and creates the schema.
    /// </summary>
    /// <exception cref="StoreException">The directory or file cannot be used; the message names it and the fix.</exception>
    public static SqliteStore Open(string dataDirectory, SqliteStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        options ??= new SqliteStoreOptions();
        var directory = Path.GetFullPath(dataDirectory);
        var path = Path.Combine(directory, FileName);
        try
        {
            // New directory 0700, new database file 0600 (SQLite's -wal and -journal files take the database's mode).
            SqliteFiles.CreateDirectory(directory);
            SqliteFiles.CreateDatabaseFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"Cannot create the data directory '{directory}' or its database file: {ex.Message} Create it and let the user that runs " +
                "starling-server write to it, or choose another one with --data-dir DIR (Storage:DataDirectory), or run without storage with --memory.", ex);
        }
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
            DefaultTimeout = 5,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            // Exclusive: one broker per data directory; also lets WAL work without a shared-memory file.
            Exec(connection, "PRAGMA locking_mode=EXCLUSIVE;");
            SqliteSchema.CheckIntegrity(connection, path, options.FullIntegrityCheck);
            var mode = Scalar(connection, "PRAGMA journal_mode=WAL;") as string;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new StoreException($"Cannot switch {path} to WAL mode (SQLite answered '{mode}'). Check that the directory " +
                    $"'{directory}' is writable and on a local file system.");
            }
            Exec(connection, options.Durability == SqliteDurability.PowerLoss ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
            Exec(connection, "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=4000;");
            if (options.MaxDatabaseSizeBytes > 0)
            {
                var pageSize = (long)Scalar(connection, "PRAGMA page_size;")!;
                Exec(connection, $"PRAGMA max_page_count={Math.Max(1, options.MaxDatabaseSizeBytes / pageSize)};");
            }
            SqliteSchema.Create(connection, path);
            return new SqliteStore(connection, path, options.MaxDatabaseSizeBytes) { LooseAccess = SqliteFiles.LooseAccess(directory, path) };
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw Translate(ex, path, "open");
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public StoreContents Load()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return SqliteRows.Load(_connection);
        }
        catch (SqliteException ex)
        {
            throw Translate(ex, _path, "read");
        }
        catch (Exception ex) when (ex is InvalidCastException or InvalidDataException or FormatException)
        {
            throw Damaged(_path, ex.Message);
        }
    }

    public StoreStatistics GetStatistics()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            long Count(string table) => (long)Scalar(_connection, $"SELECT COUNT(*) FROM {table};")!;
            return new StoreStatistics(Count("session"), Count("subscription"), Count("message"), Count("delivery"), Count("inbound_qos2"), Count("retained"));
        }
        catch (SqliteException ex)
        {
            throw Translate(ex, _path, "read");
        }
    }

    public IReadOnlyList<StoredDelivery> LoadQueued(string clientId, long afterSequence, int limit)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            var command = _sql.LoadQueued;
            command.Transaction = null;
            command.Parameters[0].Value = clientId;
            command.Parameters[1].Value = afterSequence;
            command.Parameters[2].Value = limit;
            var result = new List<StoredDelivery>(Math.Min(limit, 1024));
            var messages = new Dictionary<long, StoredMessage>();
            using var r = command.ExecuteReader();
            while (r.Read())
            {
                result.Add(ReadDelivery(r, messages));
            }
            return result;
        }
        catch (SqliteException ex)
        {
            throw Translate(ex, _path, "read");
        }
    }

    public void Apply(IReadOnlyList<StoreOperation> operations)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (operations.Count == 0)
        {
            return;
        }
        _writtenMessages.Clear();
        _candidates.Clear();
        SqliteTransaction? tx = null;
        try
        {
            tx = _connection.BeginTransaction(IsolationLevel.Serializable, deferred: false);
            _sql.Use(tx);
            foreach (var op in operations)
            {
                ApplyOne(op);
            }
            foreach (var id in _candidates)
            {
                _sql.DeleteUnreferencedMessage.Parameters[0].Value = id;
                _sql.DeleteUnreferencedMessage.ExecuteNonQuery();
            }
            tx.Commit();
        }
        catch (SqliteException ex)
        {
            throw Translate(ex, _path, "write");
        }
        finally
        {
            tx?.Dispose();
        }
    }

    private void ApplyOne(StoreOperation op)
    {
        switch (op.Kind)
        {
            case StoreOperationKind.UpsertSession:
                Run(_sql.UpsertSession, op.ClientId, (long)op.Session!.ExpiryInterval, op.Session.DisconnectedAtMs, op.Session.Owner);
                break;
            case StoreOperationKind.DeleteSession:
                using (var r = Bind(_sql.SessionMessages, op.ClientId).ExecuteReader())
                {
                    while (r.Read())
                    {
                        _candidates.Add(r.GetInt64(0));
                    }
                }
                Run(_sql.DeleteDeliveries, op.ClientId);
                Run(_sql.DeleteSubscriptions, op.ClientId);
                Run(_sql.DeleteInbound, op.ClientId);
                Run(_sql.DeleteSession, op.ClientId);
                break;
            case StoreOperationKind.SetWill:
                var w = op.Will!;
                Run(_sql.SetWill, op.ClientId, w.Topic, w.Payload, (int)w.QoS, w.Retain, w.Properties, w.DueAtMs);
                break;
            case StoreOperationKind.ClearWill:
                Run(_sql.ClearWill, op.ClientId);
                break;
            case StoreOperationKind.AddSubscription:
                var s = op.Subscription!;
                Run(_sql.AddSubscription, op.ClientId, s.Filter, (int)s.QoS, s.NoLocal, s.RetainAsPublished, (int)s.RetainHandling, (long)s.SubscriptionId);
                break;
            case StoreOperationKind.RemoveSubscription:
                Run(_sql.RemoveSubscription, op.ClientId, op.Filter);
                break;
            case StoreOperationKind.AddDelivery:
                WriteMessage(op.Message!);
                Run(_sql.AddDelivery, op.ClientId, op.Sequence, op.Message!.Id, (int)op.QoS, op.Retain, StoredProperties.EncodeIds(op.SubscriptionIds),
                    (int)op.PacketId, (int)op.State);
                break;
            case StoreOperationKind.UpdateDelivery:
                Run(_sql.UpdateDelivery, op.ClientId, op.Sequence, (int)op.PacketId, (int)op.State);
                break;
            case StoreOperationKind.RemoveDelivery:
                if (Bind(_sql.RemoveDelivery, op.ClientId, op.Sequence).ExecuteScalar() is long removed)
                {
                    _candidates.Add(removed);
                }
                break;
            case StoreOperationKind.AddInboundQoS2:
                Run(_sql.AddInbound, op.ClientId, (int)op.PacketId);
                break;
            case StoreOperationKind.RemoveInboundQoS2:
                Run(_sql.RemoveInbound, op.ClientId, (int)op.PacketId);
                break;
            case StoreOperationKind.SetRetained:
                WriteMessage(op.Message!);
                if (Bind(_sql.RemoveRetained, op.Topic).ExecuteScalar() is long replaced && replaced != op.Message!.Id)
                {
                    _candidates.Add(replaced);
                }
                Run(_sql.AddRetained, op.Topic, op.Message!.Id);
                break;
            case StoreOperationKind.RemoveRetained:
                if (Bind(_sql.RemoveRetained, op.Topic).ExecuteScalar() is long gone)
                {
                    _candidates.Add(gone);
                }
                break;
            default:
                throw new StoreException($"Unknown store operation {op.Kind}.");
        }
    }

    /// <summary>Stores a message once per batch (INSERT OR IGNORE: it may already be there from an earlier batch).</summary>
    private void WriteMessage(StoredMessage m)
    {
        if (!_writtenMessages.Add(m.Id))
        {
            return;
        }
        Run(_sql.AddMessage, m.Id, m.Topic, m.Payload, m.AccountedSize, (int)m.QoS, m.Retain, m.Properties, m.PublisherClientId, m.CreatedAtMs, m.ExpiresAtMs);
    }

    /// <summary>Turns a SQLite error into a message that says which file and what to do.</summary>
    public static StoreException Translate(SqliteException ex, string path, string action) => SqliteErrors.Translate(ex, path, action);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _sql.Dispose();
        try
        {
            // Fold the WAL into the database file so it is self-contained while the broker is down.
            Exec(_connection, "PRAGMA wal_checkpoint(TRUNCATE);");
        }
        catch (SqliteException)
        {
            // The WAL stays; SQLite replays it at the next open.
        }
        _connection.Dispose();
    }
}
