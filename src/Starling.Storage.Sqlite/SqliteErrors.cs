using Microsoft.Data.Sqlite;
using Starling.Broker.Storage;

namespace Starling.Storage.Sqlite;

/// <summary>
/// Turns SQLite failures into <see cref="StoreException"/>s whose message names the file and the fix; a damaged
/// file is never opened over (no state is lost silently).
/// </summary>
internal static class SqliteErrors
{
    internal static StoreException Damaged(string path, string detail)
        => new($"The database file {path} is damaged ({detail}). Starling does not start on a damaged store, so that no state is lost " +
            $"silently. Stop the broker, move {path} and any {path}-wal next to it aside (keep them for recovery with the sqlite3 " +
            ".recover command), then start again to begin with an empty store, or restore a backup.");

    /// <summary>Turns a SQLite error into a message that says which file and what to do.</summary>
    internal static StoreException Translate(SqliteException ex, string path, string action)
    {
        var directory = Path.GetDirectoryName(path);
        var message = ex.SqliteErrorCode switch
        {
            11 or 26 => null,
            13 => $"Cannot {action} {path}: the database or disk is full. Raise Storage:MaxDatabaseSize, or free space on the file system that holds {directory}.",
            8 => $"Cannot {action} {path}: it is read-only. Give the user that runs starling-server write access to {directory} and its files.",
            14 => $"Cannot open {path}: {ex.Message} Check that {directory} exists and that the user that runs starling-server may create and write files in it.",
            5 or 6 => $"Cannot {action} {path}: the database is locked by another process. Another starling-server probably uses the " +
                "same data directory: stop it, or give this one another directory with --data-dir DIR.",
            10 => $"Cannot {action} {path}: I/O error ({ex.Message}). Check the disk and the file system (full, read-only, unmounted?).",
            23 => $"Cannot {action} {path}: permission denied. Give the user that runs starling-server read and write access to it.",
            _ => $"Cannot {action} {path}: {ex.Message}",
        };
        // SQLITE_FULL (13): the file reached PRAGMA max_page_count (Storage:MaxDatabaseSize) or the disk is full. An
        // I/O error stays transient (retried): SQLite reports a full disk as SQLITE_FULL, so only that code is typed.
        return message is null ? Damaged(path, ex.Message) : new StoreException(message, ex) { IsOutOfSpace = ex.SqliteErrorCode == 13 };
    }
}
