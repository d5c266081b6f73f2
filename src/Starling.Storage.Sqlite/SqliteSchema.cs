using Microsoft.Data.Sqlite;
using Starling.Broker.Storage;
using static Starling.Storage.Sqlite.SqliteCommands;
using static Starling.Storage.Sqlite.SqliteErrors;

namespace Starling.Storage.Sqlite;

/// <summary>
/// The database layout (docs/architecture.md, "Storage") and the checks made when the file is opened. The schema version
/// is kept in <c>meta</c>; a file written by another version is refused with a message rather than migrated blindly.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>The schema version this code reads and writes.</summary>
    internal const int Version = 1;

    /// <summary>Runs PRAGMA quick_check (or integrity_check when <paramref name="full"/>); throws when the file is damaged.</summary>
    internal static void CheckIntegrity(SqliteConnection connection, string path, bool full)
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

    /// <summary>Creates the tables that are missing and checks the schema version, in one transaction.</summary>
    internal static void Create(SqliteConnection connection, string path)
    {
        using var tx = connection.BeginTransaction();
        Exec(connection, """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS session (
                client_id TEXT PRIMARY KEY, expiry INTEGER NOT NULL, disconnected_at INTEGER,
                will_topic TEXT, will_payload BLOB, will_qos INTEGER, will_retain INTEGER, will_properties BLOB, will_due_at INTEGER,
                owner TEXT
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
            Exec(connection, $"INSERT INTO meta (key, value) VALUES ('schema_version', '{Version}');", tx);
        }
        else if (version != Version.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new StoreException($"{path} has schema version {version}; this starling-server reads version {Version}. " +
                "Run the starling-server version that wrote it, or move the data directory aside to start empty.");
        }
        // Files of schema 1 written before sessions had owners (docs/security.md, "Session ownership") gain the column;
        // their sessions have none until a client resumes them.
        if (Convert.ToInt64(Scalar(connection, "SELECT COUNT(*) FROM pragma_table_info('session') WHERE name = 'owner';", tx),
            System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            Exec(connection, "ALTER TABLE session ADD COLUMN owner TEXT;", tx);
        }
        tx.Commit();
    }
}
