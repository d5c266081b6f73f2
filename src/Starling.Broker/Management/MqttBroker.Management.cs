using Starling.Protocol;

namespace Starling.Broker;

/// <summary>The broker's management surface: read-only views and administrative actions, safe from any thread.</summary>
public sealed partial class MqttBroker
{
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;

    /// <summary>All sessions, connected or not.</summary>
    public IReadOnlyList<SessionSnapshot> GetSessions() => [.. _sessions.All.Select(Snapshot)];

    /// <summary>One session, or null.</summary>
    public SessionSnapshot? GetSession(string clientId)
        => _sessions.Find(clientId) is { IsEnded: false } s ? Snapshot(s) : null;

    /// <summary>The subscriptions of one session (empty when unknown).</summary>
    public IReadOnlyList<SubscriptionSnapshot> GetSubscriptions(string clientId)
        => _sessions.Find(clientId) is { } s
            ? [.. s.Subscriptions.Select(x => new SubscriptionSnapshot(x.Filter, x.Options.QoS, x.Options.NoLocal, x.Options.RetainAsPublished,
                x.Options.RetainHandling, x.SubscriptionId, x.ShareName))]
            : [];

    /// <summary>Disconnects a client (v5 clients get DISCONNECT 0x98 Administrative action); its session stays by its own rules.</summary>
    public bool DisconnectClient(string clientId)
    {
        if (_sessions.Find(clientId)?.Connection is not { } connection)
        {
            return false;
        }
        connection.Abort(ReasonCode.AdministrativeAction, "disconnected by an administrator");
        return true;
    }

    /// <summary>Disconnects the client if connected and discards its session (subscriptions, queued messages).</summary>
    public bool DeleteSession(string clientId)
    {
        if (_sessions.Find(clientId) is not { } session)
        {
            return false;
        }
        session.Connection?.Abort(ReasonCode.AdministrativeAction, "session deleted by an administrator");
        _sessions.Discard(session);
        return true;
    }

    /// <summary>Retained messages, optionally only those matching a topic filter.</summary>
    public IReadOnlyList<RetainedMessageSnapshot> GetRetainedMessages(string? filter = null)
        => [.. (filter is null ? _retained.All : _retained.Matching(filter))
            .Select(m => new RetainedMessageSnapshot(m.Topic, m.Payload, m.QoS, _startedAt + _time.GetElapsedTime(_startTimestamp, m.CreatedTimestamp)))];

    /// <summary>Deletes the retained message of a topic.</summary>
    public bool DeleteRetainedMessage(string topic) => _retained.Remove(topic);

    /// <summary>
    /// Publishes a message from the broker itself (management API, $SYS). Topic names starting with '$' are allowed
    /// here. Returns the number of sessions it was handed to.
    /// </summary>
    public int Publish(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos = QualityOfService.AtMostOnce, bool retain = false, MqttProperties? properties = null)
    {
        if (!TopicValidator.IsValidTopicName(topic))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic name", nameof(topic));
        }
        var message = new Message(topic, payload.ToArray(), qos, retain, properties, null, _time.GetTimestamp());
        if (retain)
        {
            _retained.Set(message);
        }
        return _router.Route(message);
    }

    /// <summary>Broker-wide figures.</summary>
    public BrokerStats GetStats()
    {
        var c = _counters;
        return new BrokerStats(_startedAt, _connections.ConnectedCount, _sessions.Count, _index.Count, _retained.Count,
            Interlocked.Read(ref c.ConnectionsAccepted), Interlocked.Read(ref c.ConnectionsRefused), Interlocked.Read(ref c.MessagesReceived),
            Interlocked.Read(ref c.MessagesDelivered),
            Interlocked.Read(ref c.MessagesDroppedQueueFull) + Interlocked.Read(ref c.MessagesDroppedQoS0Backlog) + Interlocked.Read(ref c.MessagesDroppedTooLarge) + Interlocked.Read(ref c.MessagesExpired),
            Interlocked.Read(ref c.BytesReceived), Interlocked.Read(ref c.BytesSent));
    }

    private SessionSnapshot Snapshot(Session s)
    {
        var connection = s.Connection;
        return new SessionSnapshot(s.ClientId, connection is not null, connection?.Info.RemoteEndPoint?.ToString(), connection?.Info.ListenerName,
            connection?.Version ?? ProtocolVersion.Unknown, connection?.Username, connection?.KeepAliveSeconds ?? 0, s.ExpiryInterval,
            connection?.ConnectedAt, s.Subscriptions.Length, s.InflightCount, s.QueuedCount);
    }
}
