using Microsoft.Data.Sqlite;

namespace Starling.Storage.Sqlite;

/// <summary>Small helpers over <see cref="SqliteCommand"/>: positional binding (null becomes NULL) and one-off statements.</summary>
internal static class SqliteCommands
{
    internal static SqliteCommand Bind(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
        return command;
    }

    internal static void Run(SqliteCommand command, params object?[] values) => Bind(command, values).ExecuteNonQuery();

    internal static void Exec(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    internal static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        return command.ExecuteScalar();
    }
}
