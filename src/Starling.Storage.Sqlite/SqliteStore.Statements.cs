using Microsoft.Data.Sqlite;

namespace Starling.Storage.Sqlite;

public sealed partial class SqliteStore
{
    /// <summary>The prepared statements, created once per connection; parameters are positional ($1, $2, ...).</summary>
    private sealed class Statements : IDisposable
    {
        private readonly List<SqliteCommand> _all = [];

        public Statements(SqliteConnection connection)
        {
            SqliteCommand Make(string sql, int parameters)
            {
                var command = connection.CreateCommand();
                command.CommandText = sql;
                for (var i = 1; i <= parameters; i++)
                {
                    command.Parameters.Add(new SqliteParameter("$" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), DBNull.Value));
                }
                _all.Add(command);
                return command;
            }

            UpsertSession = Make("INSERT INTO session (client_id, expiry, disconnected_at, owner) VALUES ($1, $2, $3, $4) " +
                "ON CONFLICT (client_id) DO UPDATE SET expiry = excluded.expiry, disconnected_at = excluded.disconnected_at, owner = excluded.owner;", 4);
            SessionMessages = Make("SELECT DISTINCT message_id FROM delivery WHERE client_id = $1;", 1);
            DeleteDeliveries = Make("DELETE FROM delivery WHERE client_id = $1;", 1);
            DeleteSubscriptions = Make("DELETE FROM subscription WHERE client_id = $1;", 1);
            DeleteInbound = Make("DELETE FROM inbound_qos2 WHERE client_id = $1;", 1);
            DeleteSession = Make("DELETE FROM session WHERE client_id = $1;", 1);
            SetWill = Make("UPDATE session SET will_topic = $2, will_payload = $3, will_qos = $4, will_retain = $5, will_properties = $6, " +
                "will_due_at = $7 WHERE client_id = $1;", 7);
            ClearWill = Make("UPDATE session SET will_topic = NULL, will_payload = NULL, will_qos = NULL, will_retain = NULL, " +
                "will_properties = NULL, will_due_at = NULL WHERE client_id = $1;", 1);
            AddSubscription = Make("INSERT OR REPLACE INTO subscription (client_id, filter, qos, no_local, retain_as_published, retain_handling, " +
                "subscription_id) VALUES ($1, $2, $3, $4, $5, $6, $7);", 7);
            RemoveSubscription = Make("DELETE FROM subscription WHERE client_id = $1 AND filter = $2;", 2);
            AddMessage = Make("INSERT OR IGNORE INTO message (id, topic, payload, size, qos, retain, properties, publisher, created_at, expires_at) " +
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);", 10);
            AddDelivery = Make("INSERT OR REPLACE INTO delivery (client_id, seq, message_id, qos, retain, subscription_ids, packet_id, state) " +
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8);", 8);
            UpdateDelivery = Make("UPDATE delivery SET packet_id = $3, state = $4 WHERE client_id = $1 AND seq = $2;", 4);
            RemoveDelivery = Make("DELETE FROM delivery WHERE client_id = $1 AND seq = $2 RETURNING message_id;", 2);
            AddInbound = Make("INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES ($1, $2);", 2);
            RemoveInbound = Make("DELETE FROM inbound_qos2 WHERE client_id = $1 AND packet_id = $2;", 2);
            RemoveRetained = Make("DELETE FROM retained WHERE topic = $1 RETURNING message_id;", 1);
            AddRetained = Make("INSERT INTO retained (topic, message_id) VALUES ($1, $2);", 2);
            DeleteUnreferencedMessage = Make("DELETE FROM message WHERE id = $1 " +
                "AND NOT EXISTS (SELECT 1 FROM delivery WHERE message_id = $1) AND NOT EXISTS (SELECT 1 FROM retained WHERE message_id = $1);", 1);
            LoadQueued = Make($"SELECT d.client_id, d.seq, d.qos, d.retain, d.subscription_ids, d.packet_id, d.state, {SqliteRows.MessageColumns} " +
                "FROM delivery d JOIN message m ON m.id = d.message_id WHERE d.client_id = $1 AND d.seq > $2 AND d.state = 0 ORDER BY d.seq LIMIT $3;", 3);
        }

        public SqliteCommand UpsertSession { get; }
        public SqliteCommand SessionMessages { get; }
        public SqliteCommand DeleteDeliveries { get; }
        public SqliteCommand DeleteSubscriptions { get; }
        public SqliteCommand DeleteInbound { get; }
        public SqliteCommand DeleteSession { get; }
        public SqliteCommand SetWill { get; }
        public SqliteCommand ClearWill { get; }
        public SqliteCommand AddSubscription { get; }
        public SqliteCommand RemoveSubscription { get; }
        public SqliteCommand AddMessage { get; }
        public SqliteCommand AddDelivery { get; }
        public SqliteCommand UpdateDelivery { get; }
        public SqliteCommand RemoveDelivery { get; }
        public SqliteCommand AddInbound { get; }
        public SqliteCommand RemoveInbound { get; }
        public SqliteCommand RemoveRetained { get; }
        public SqliteCommand AddRetained { get; }
        public SqliteCommand DeleteUnreferencedMessage { get; }
        public SqliteCommand LoadQueued { get; }

        /// <summary>Binds every statement to the batch's transaction.</summary>
        public void Use(SqliteTransaction? tx)
        {
            foreach (var command in _all)
            {
                command.Transaction = tx;
            }
        }

        public void Dispose()
        {
            foreach (var command in _all)
            {
                command.Dispose();
            }
        }
    }
}
