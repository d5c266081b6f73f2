using System.Data;
using Microsoft.Data.Sqlite;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Storage.Sqlite;

/// <summary>
/// The embedded default <see cref="IStore"/>: one SQLite file (<see cref="FileName"/>) in the data directory, WAL mode,
/// one connection used by the broker's single writer thread, prepared statements reused for every batch. The schema
/// and the durability rule are described in docs/architecture.md ("Storage").
/// Opening checks the file (PRAGMA quick_check) and takes an exclusive lock, so a damaged file or a second broker on
/// the same directory stops start-up with a message instead of losing state.
/// </summary>
public sealed partial class SqliteStore : IStore
{
    /// <summary>The database file's name in the data directory.</summary>
    public const string FileName = "starling.db";

    private const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;
    private readonly string _path;
    private readonly Statements _sql;
    private readonly HashSet<long> _writtenMessages = [];
    private readonly HashSet<long> _candidates = [];
    private bool _disposed;

    private SqliteStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        _path = path;
        _sql = new Statements(connection);
    }

    /// <summary>The database file.</summary>
    public string FilePath => _path;

    public string Description => $"SQLite database {_path}";

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
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"Cannot create the data directory '{directory}': {ex.Message} Create it and let the user that runs " +
                "starling-server write to it, or choose another one with --data-dir DIR (Storage:DataDirectory), or run without storage with --memory.", ex);
        }
        var path = Path.Combine(directory, FileName);
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
            CheckIntegrity(connection, path, options.FullIntegrityCheck);
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
            CreateSchema(connection, path);
            return new SqliteStore(connection, path);
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

    private static void CheckIntegrity(SqliteConnection connection, string path, bool full)
    {
        var problems = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = full ? "PRAGMA integrity_check;" : "PRAGMA quick_check;";
            using var reader = command.ExecuteReader();
            while (reader.Read() && problems.Count < 5)
            {
                problems.Add(reader.GetString(0));
            }
        }
        if (problems is not ["ok"])
        {
            throw Damaged(path, string.Join("; ", problems));
        }
    }

    private static void CreateSchema(SqliteConnection connection, string path)
    {
        using var tx = connection.BeginTransaction();
        Exec(connection, """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS session (
                client_id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, disconnected_at INTEGER,
                will_topic TEXT, will_payload BLOB, will_qos INTEGER, will_retain INTEGER, will_properties BLOB, will_due_at INTEGER
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS subscription (
                client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, no_local INTEGER NOT NULL,
                retain_as_published INTEGER NOT NULL, retain_handling INTEGER NOT NULL, subscription_id INTEGER NOT NULL,
                PRIMARY KEY (client_id, filter)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS message (
                id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, size INTEGER NOT NULL, qos INTEGER NOT NULL,
                retain INTEGER NOT NULL, properties BLOB, publisher TEXT, created_at INTEGER NOT NULL, expires_at INTEGER
            );
            CREATE TABLE IF NOT EXISTS delivery (
                client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
                subscription_ids BLOB, packet_id INTEGER NOT NULL, state INTEGER NOT NULL,
                PRIMARY KEY (client_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS delivery_by_message ON delivery (message_id);
            CREATE TABLE IF NOT EXISTS inbound_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, message_id INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS retained_by_message ON retained (message_id);
            """, tx);
        var version = Scalar(connection, "SELECT value FROM meta WHERE key = 'schema_version';", tx) as string;
        if (version is null)
        {
            Exec(connection, $"INSERT INTO meta (key, value) VALUES ('schema_version', '{SchemaVersion}');", tx);
        }
        else if (version != SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new StoreException($"{path} has schema version {version}; this starling-server reads version {SchemaVersion}. " +
                "Run the starling-server version that wrote it, or move the data directory aside to start empty.");
        }
        tx.Commit();
    }

    public StoreContents Load()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return LoadCore();
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

    private StoreContents LoadCore()
    {
        var contents = new StoreContents();
        // Messages nothing refers to any more (a crash between batches cannot leave any, but stay tidy).
        Exec(_connection, "DELETE FROM message WHERE NOT EXISTS (SELECT 1 FROM delivery d WHERE d.message_id = message.id) " +
            "AND NOT EXISTS (SELECT 1 FROM retained r WHERE r.message_id = message.id);");
        using (var command = Command("SELECT client_id, expiry, disconnected_at, will_topic, will_payload, will_qos, will_retain, will_properties, will_due_at FROM session;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                StoredWill? will = r.IsDBNull(3) ? null : new StoredWill(r.GetString(3), (byte[])r.GetValue(4), (QualityOfService)r.GetByte(5),
                    r.GetBoolean(6), r.IsDBNull(7) ? null : (byte[])r.GetValue(7), r.GetInt64(8));
                contents.Sessions.Add(new StoredSession(r.GetString(0), (uint)r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2), will));
            }
        }
        using (var command = Command("SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id FROM subscription;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Subscriptions.Add(new StoredSubscription(r.GetString(0), r.GetString(1), (QualityOfService)r.GetByte(2), r.GetBoolean(3),
                    r.GetBoolean(4), (RetainHandling)r.GetByte(5), (uint)r.GetInt64(6)));
            }
        }
        using (var command = Command("""
            SELECT d.client_id, SUM(d.state = 0), TOTAL(CASE WHEN d.state = 0 THEN m.size ELSE 0 END), MAX(d.seq)
            FROM delivery d JOIN message m ON m.id = d.message_id GROUP BY d.client_id;
            """))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Queues.Add(new StoredQueueSummary(r.GetString(0), r.GetInt64(1), (long)r.GetDouble(2), r.GetInt64(3)));
            }
        }
        var messages = new Dictionary<long, StoredMessage>();
        using (var command = Command($"""
            SELECT d.client_id, d.seq, d.qos, d.retain, d.subscription_ids, d.packet_id, d.state, {MessageColumns}
            FROM delivery d JOIN message m ON m.id = d.message_id WHERE d.state <> 0 ORDER BY d.client_id, d.seq;
            """))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Inflight.Add(ReadDelivery(r, messages));
            }
        }
        using (var command = Command("SELECT client_id, packet_id FROM inbound_qos2;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.InboundQoS2.Add(new StoredInboundQoS2(r.GetString(0), (ushort)r.GetInt32(1)));
            }
        }
        using (var command = Command($"SELECT {MessageColumns} FROM retained t JOIN message m ON m.id = t.message_id;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Retained.Add(ReadMessage(r, 0, messages));
            }
        }
        contents.MaxMessageId = (long)Scalar(_connection, "SELECT COALESCE(MAX(id), 0) FROM message;")!;
        return contents;
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
                Run(_sql.UpsertSession, op.ClientId, (long)op.Session!.ExpiryInterval, op.Session.DisconnectedAtMs);
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
        Run(_sql.AddMessage, m.Id, m.Topic, m.Payload, (long)m.Payload.Length, (int)m.QoS, m.Retain, m.Properties, m.PublisherClientId, m.CreatedAtMs, m.ExpiresAtMs);
    }

    private const string MessageColumns = "m.id, m.topic, m.payload, m.qos, m.retain, m.properties, m.publisher, m.created_at, m.expires_at";

    private static StoredDelivery ReadDelivery(SqliteDataReader r, Dictionary<long, StoredMessage> messages)
        => new(r.GetString(0), r.GetInt64(1), ReadMessage(r, 7, messages), (QualityOfService)r.GetByte(2), r.GetBoolean(3),
            StoredProperties.DecodeIds(r.IsDBNull(4) ? null : (byte[])r.GetValue(4)), (ushort)r.GetInt32(5), (StoredDeliveryState)r.GetByte(6));

    private static StoredMessage ReadMessage(SqliteDataReader r, int at, Dictionary<long, StoredMessage> messages)
    {
        var id = r.GetInt64(at);
        if (messages.TryGetValue(id, out var known))
        {
            return known;
        }
        var m = new StoredMessage
        {
            Id = id,
            Topic = r.GetString(at + 1),
            Payload = (byte[])r.GetValue(at + 2),
            QoS = (QualityOfService)r.GetByte(at + 3),
            Retain = r.GetBoolean(at + 4),
            Properties = r.IsDBNull(at + 5) ? null : (byte[])r.GetValue(at + 5),
            PublisherClientId = r.IsDBNull(at + 6) ? null : r.GetString(at + 6),
            CreatedAtMs = r.GetInt64(at + 7),
            ExpiresAtMs = r.IsDBNull(at + 8) ? null : r.GetInt64(at + 8),
        };
        messages[id] = m;
        return m;
    }

    private SqliteCommand Command(string sql)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    private static SqliteCommand Bind(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
        return command;
    }

    private static void Run(SqliteCommand command, params object?[] values) => Bind(command, values).ExecuteNonQuery();

    private static void Exec(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return command.ExecuteScalar();
    }

    private static StoreException Damaged(string path, string detail)
        => new($"The database file {path} is damaged ({detail}). Starling does not start on a damaged store, so that no state is lost " +
            $"silently. Stop the broker, move {path} and any {path}-wal next to it aside (keep them for recovery with the sqlite3 " +
            ".recover command), then start again to begin with an empty store, or restore a backup.");

    /// <summary>Turns a SQLite error into a message that says which file and what to do.</summary>
    public static StoreException Translate(SqliteException ex, string path, string action)
    {
        var directory = Path.GetDirectoryName(path);
        var message = ex.SqliteErrorCode switch
        {
            11 or 26 => null,
            13 => $"Cannot {action} {path}: the disk is full. Free space on the file system that holds {directory}.",
            8 => $"Cannot {action} {path}: it is read-only. Give the user that runs starling-server write access to {directory} and its files.",
            14 => $"Cannot open {path}: {ex.Message} Check that {directory} exists and that the user that runs starling-server may create and write files in it.",
            5 or 6 => $"Cannot {action} {path}: the database is locked by another process. Another starling-server probably uses the " +
                "same data directory: stop it, or give this one another directory with --data-dir DIR.",
            10 => $"Cannot {action} {path}: I/O error ({ex.Message}). Check the disk and the file system (full, read-only, unmounted?).",
            23 => $"Cannot {action} {path}: permission denied. Give the user that runs starling-server read and write access to it.",
            _ => $"Cannot {action} {path}: {ex.Message}",
        };
        return message is null ? Damaged(path, ex.Message) : new StoreException(message, ex);
    }

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
