using Microsoft.Data.Sqlite;
using Starling.Broker.Storage;
using Starling.Protocol;
using static Starling.Storage.Sqlite.SqliteCommands;

namespace Starling.Storage.Sqlite;

/// <summary>Reading rows back into the broker's stored types: the start-up load and the row readers shared with paging.</summary>
internal static class SqliteRows
{
    /// <summary>Reads everything the broker restores at start-up (the per-client queues as summaries only).</summary>
    internal static StoreContents Load(SqliteConnection connection)
    {
        var contents = new StoreContents();
        // Messages nothing refers to any more (a crash between batches cannot leave any, but stay tidy).
        Exec(connection, "DELETE FROM message WHERE NOT EXISTS (SELECT 1 FROM delivery d WHERE d.message_id = message.id) " +
            "AND NOT EXISTS (SELECT 1 FROM retained r WHERE r.message_id = message.id);");
        using (var command = Command(connection, "SELECT client_id, expiry, disconnected_at, will_topic, will_payload, will_qos, will_retain, will_properties, will_due_at, owner FROM session;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                StoredWill? will = r.IsDBNull(3) ? null : new StoredWill(r.GetString(3), (byte[])r.GetValue(4), (QualityOfService)r.GetByte(5),
                    r.GetBoolean(6), r.IsDBNull(7) ? null : (byte[])r.GetValue(7), r.GetInt64(8));
                contents.Sessions.Add(new StoredSession(r.GetString(0), (uint)r.GetInt64(1), r.IsDBNull(2) ? null : r.GetInt64(2), will)
                {
                    Owner = r.IsDBNull(9) ? null : r.GetString(9),
                });
            }
        }
        using (var command = Command(connection, "SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id FROM subscription;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Subscriptions.Add(new StoredSubscription(r.GetString(0), r.GetString(1), (QualityOfService)r.GetByte(2), r.GetBoolean(3),
                    r.GetBoolean(4), (RetainHandling)r.GetByte(5), (uint)r.GetInt64(6)));
            }
        }
        using (var command = Command(connection, """
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
        using (var command = Command(connection, $"""
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
        using (var command = Command(connection, "SELECT client_id, packet_id FROM inbound_qos2;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.InboundQoS2.Add(new StoredInboundQoS2(r.GetString(0), (ushort)r.GetInt32(1)));
            }
        }
        using (var command = Command(connection, $"SELECT {MessageColumns} FROM retained t JOIN message m ON m.id = t.message_id;"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                contents.Retained.Add(ReadMessage(r, 0, messages));
            }
        }
        contents.MaxMessageId = (long)Scalar(connection, "SELECT COALESCE(MAX(id), 0) FROM message;")!;
        return contents;
    }

    /// <summary>The message columns as <see cref="ReadMessage"/> reads them, from a table aliased <c>m</c>.</summary>
    internal const string MessageColumns = "m.id, m.topic, m.payload, m.qos, m.retain, m.properties, m.publisher, m.created_at, m.expires_at";

    /// <summary>Reads a delivery row: client, seq, qos, retain, subscription ids, packet id, state, then the message columns.</summary>
    internal static StoredDelivery ReadDelivery(SqliteDataReader r, Dictionary<long, StoredMessage> messages)
        => new(r.GetString(0), r.GetInt64(1), ReadMessage(r, 7, messages), (QualityOfService)r.GetByte(2), r.GetBoolean(3),
            StoredProperties.DecodeIds(r.IsDBNull(4) ? null : (byte[])r.GetValue(4)), (ushort)r.GetInt32(5), (StoredDeliveryState)r.GetByte(6));

    /// <summary>Reads the message columns starting at <paramref name="at"/>; a message read before is shared, not read again.</summary>
    internal static StoredMessage ReadMessage(SqliteDataReader r, int at, Dictionary<long, StoredMessage> messages)
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

    private static SqliteCommand Command(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }
}
