using System.Diagnostics.Metrics;
using Starling.Broker;

namespace Starling.Server.Metrics;

/// <summary>
/// The server's instruments, on a <see cref="Meter"/> named "Starling" (one per server instance). Every instrument is
/// observable: its value is read from the broker's counters when a reader collects (a /metrics scrape, an OTLP export),
/// so the MQTT hot path pays nothing for metrics.
/// </summary>
internal sealed class StarlingMetrics : IDisposable
{
    public const string MeterName = "Starling";

    private readonly BrokerService _brokerService;

    public StarlingMetrics(BrokerService brokerService)
    {
        _brokerService = brokerService;
        Meter = new Meter(MeterName, ServerCommandLine.VersionText());
        var m = Meter;

        m.CreateObservableUpDownCounter("starling.connections.active", () => Broker.ConnectedClients, "{connection}",
            "MQTT connections with a session attached (clients connected).");
        m.CreateObservableUpDownCounter("starling.connections.pending", () => Broker.PendingConnections, "{connection}",
            "Connections that have not completed CONNECT yet.");
        m.CreateObservableCounter("starling.connections.accepted", () => Read(ref Broker.Counters.ConnectionsAccepted), "{connection}",
            "Connections accepted (CONNACK success) since start.");
        m.CreateObservableCounter("starling.connections.refused", () => Read(ref Broker.Counters.ConnectionsRefused), "{connection}",
            "Connections refused in CONNACK since start.");
        m.CreateObservableCounter("starling.protocol.errors", () => Read(ref Broker.Counters.ProtocolErrors), "{error}",
            "Connections closed for a protocol error since start.");
        m.CreateObservableUpDownCounter("starling.sessions", () => Broker.SessionCount, "{session}",
            "Sessions, connected or not.");
        m.CreateObservableUpDownCounter("starling.subscriptions", () => Broker.SubscriptionCount, "{subscription}",
            "Subscriptions in the topic index.");
        m.CreateObservableUpDownCounter("starling.retained.messages", () => Broker.RetainedCount, "{message}",
            "Retained messages.");
        m.CreateObservableCounter("starling.messages.received", () => Read(ref Broker.Counters.MessagesReceived), "{message}",
            "PUBLISH packets received from clients since start.");
        m.CreateObservableCounter("starling.messages.delivered", () => Read(ref Broker.Counters.MessagesDelivered), "{message}",
            "Messages handed to subscribers' sessions since start.");
        m.CreateObservableCounter("starling.messages.dropped", ObserveDropped, "{message}",
            "Messages dropped since start, by reason.");
        m.CreateObservableCounter("starling.bytes.received", () => Read(ref Broker.Counters.BytesReceived), "By",
            "Bytes received on MQTT connections since start.");
        m.CreateObservableCounter("starling.bytes.sent", () => Read(ref Broker.Counters.BytesSent), "By",
            "Bytes sent on MQTT connections since start.");
        m.CreateObservableUpDownCounter("starling.queue.depth", ObserveQueues, "{message}",
            "Outbound QoS 1/2 messages held by sessions: queued (waiting for the inflight window) and inflight (unacknowledged).");
        m.CreateObservableCounter("starling.auth.failures", ObserveAuthFailures, "{connection}",
            "Connections refused by authentication since start, by reason.");
        m.CreateObservableCounter("starling.security.rejections", ObserveRejections, "{rejection}",
            "Requests refused by authorization or a security limit since start, by cause.");
        m.CreateObservableUpDownCounter("starling.uptime", () => (DateTimeOffset.UtcNow - Broker.GetStats().StartedAt).TotalSeconds, "s",
            "Seconds since the broker started.");
    }

    public Meter Meter { get; }

    private MqttBroker Broker => _brokerService.Broker;

    private static long Read(ref long field) => Interlocked.Read(ref field);

    private IEnumerable<Measurement<long>> ObserveDropped()
    {
        var c = Broker.Counters;
        return
        [
            new(Read(ref c.MessagesDroppedQueueFull), new KeyValuePair<string, object?>("reason", "queue_full")),
            new(Read(ref c.MessagesDroppedQoS0Backlog), new KeyValuePair<string, object?>("reason", "qos0_backlog")),
            new(Read(ref c.MessagesDroppedTooLarge), new KeyValuePair<string, object?>("reason", "too_large")),
            new(Read(ref c.MessagesExpired), new KeyValuePair<string, object?>("reason", "expired")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveQueues()
    {
        long queued = 0, inflight = 0;
        foreach (var session in Broker.GetSessions())
        {
            queued += session.QueuedCount;
            inflight += session.InflightCount;
        }
        return
        [
            new(queued, new KeyValuePair<string, object?>("state", "queued")),
            new(inflight, new KeyValuePair<string, object?>("state", "inflight")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveAuthFailures()
    {
        var s = Broker.SecurityCounters;
        return
        [
            new(Read(ref s.AuthenticationFailed), new KeyValuePair<string, object?>("reason", "bad_credentials")),
            new(Read(ref s.AnonymousRefused), new KeyValuePair<string, object?>("reason", "anonymous_refused")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveRejections()
    {
        var s = Broker.SecurityCounters;
        return
        [
            new(Read(ref s.ConnectionsPerAddressExceeded), new KeyValuePair<string, object?>("cause", "connections_per_address")),
            new(Read(ref s.PendingConnectionsExceeded), new KeyValuePair<string, object?>("cause", "pending_connections")),
            new(Read(ref s.OpenConnectionsExceeded), new KeyValuePair<string, object?>("cause", "open_connections")),
            new(Read(ref s.Overloaded), new KeyValuePair<string, object?>("cause", "overloaded")),
            new(Read(ref s.PublishNotAuthorized), new KeyValuePair<string, object?>("cause", "publish_not_authorized")),
            new(Read(ref s.SubscribeNotAuthorized), new KeyValuePair<string, object?>("cause", "subscribe_not_authorized")),
            new(Read(ref s.DeliveryNotAuthorized), new KeyValuePair<string, object?>("cause", "delivery_not_authorized")),
            new(Read(ref s.PublishRateExceeded), new KeyValuePair<string, object?>("cause", "publish_rate")),
            new(Read(ref s.SubscriptionLimitExceeded), new KeyValuePair<string, object?>("cause", "subscription_limit")),
            new(Read(ref s.TopicLimitExceeded), new KeyValuePair<string, object?>("cause", "topic_limit")),
            new(Read(ref s.SessionOwnerMismatch), new KeyValuePair<string, object?>("cause", "session_owner_mismatch")),
            new(Read(ref s.TakeoverRateExceeded), new KeyValuePair<string, object?>("cause", "takeover_rate")),
            new(Read(ref s.CredentialsExpired), new KeyValuePair<string, object?>("cause", "credentials_expired")),
            new(Read(ref s.WillNotAuthorized), new KeyValuePair<string, object?>("cause", "will_not_authorized")),
        ];
    }

    public void Dispose() => Meter.Dispose();
}
