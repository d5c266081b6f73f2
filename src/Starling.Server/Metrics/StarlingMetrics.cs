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
    private readonly Listeners.ConnectionAdmission _admission;

    public StarlingMetrics(BrokerService brokerService, Listeners.ConnectionAdmission admission)
    {
        _brokerService = brokerService;
        _admission = admission;
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
        m.CreateObservableCounter("starling.connections.packet_too_large", () => Read(ref Broker.Counters.PacketsTooLargeForClient), "{connection}",
            "Connections closed since start because a packet other than PUBLISH would exceed the client's Maximum Packet Size.");
        m.CreateObservableCounter("starling.connect.refused_early", ObserveRefusedEarly, "{connection}",
            "Connections closed before CONNECT was decoded since start, by reason (also in starling.protocol.errors).");
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
        m.CreateObservableCounter("starling.store.full_refusals", () => Read(ref Broker.Counters.MessagesRefusedStoreFull), "{message}",
            "QoS 1/2 and retained PUBLISH refused because the store reached Storage:MaxDatabaseSize (or had no room for them), since start.");
        m.CreateObservableCounter("starling.store.full_request_refusals", () => Read(ref Broker.Counters.RequestsRefusedStoreFull), "{request}",
            "SUBSCRIBE filters of durable sessions and CONNECTs of new durable sessions refused because the store is full, since start.");
        m.CreateObservableCounter("starling.store.publisher_pauses", () => Read(ref Broker.Counters.StorePublisherPauses), "{pause}",
            "Times a publisher stopped being read because the store writer's queue was past its limits, since start.");
        m.CreateObservableCounter("starling.limits.refused", ObserveLimits, "{refusal}",
            "Requests refused by a broker-state limit since start (retained, sessions, subscription_bytes, queue_full_publish).");
        m.CreateObservableUpDownCounter("starling.retained.bytes", () => Broker.RetainedBytes, "By",
            "Topic and payload bytes of the retained messages (Limits:MaxRetainedBytes).");
        m.CreateObservableCounter("starling.bytes.received", () => Read(ref Broker.Counters.BytesReceived), "By",
            "Bytes received on MQTT connections since start.");
        m.CreateObservableCounter("starling.bytes.sent", () => Read(ref Broker.Counters.BytesSent), "By",
            "Bytes sent on MQTT connections since start.");
        m.CreateObservableUpDownCounter("starling.queue.depth", ObserveQueues, "{message}",
            "Outbound QoS 1/2 messages held by sessions: queued (waiting for the inflight window) and inflight (unacknowledged); sampled every 5 s.");
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

    // Every DropReason, by its label (issue 16, finding 20).
    private IEnumerable<Measurement<long>> ObserveDropped()
        => [.. Broker.GetDropCounts().Select(d => new Measurement<long>(d.Value, new KeyValuePair<string, object?>("reason", d.Key)))];

    // Broker-state limits that refused something (issue 16, finding 3).
    private IEnumerable<Measurement<long>> ObserveLimits()
    {
        var c = Broker.Counters;
        return
        [
            new(Read(ref c.RetainedRefused), new KeyValuePair<string, object?>("limit", "retained")),
            new(Read(ref c.SessionsRefused), new KeyValuePair<string, object?>("limit", "sessions")),
            new(Read(ref c.PersistentSessionsRefused), new KeyValuePair<string, object?>("limit", "persistent_sessions")),
            new(Read(ref c.SubscriptionBytesRefused), new KeyValuePair<string, object?>("limit", "subscription_bytes")),
            new(Read(ref c.PublishesRefusedQueueFull), new KeyValuePair<string, object?>("limit", "queue_full_publish")),
            new(Read(ref c.UserPropertyBytesRefused), new KeyValuePair<string, object?>("limit", "user_property_bytes")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveRefusedEarly()
    {
        var c = Broker.Counters;
        return
        [
            new(Read(ref c.FirstPacketNotConnect), new KeyValuePair<string, object?>("reason", "first_packet_not_connect")),
            new(Read(ref c.ConnectTooLarge), new KeyValuePair<string, object?>("reason", "connect_too_large")),
        ];
    }

    // The Heartbeat's sample (MqttBroker.QueueDepthInterval old at most), not a walk of every session per scrape
    // (issue 16, finding 19: a scrape cost grew with the number of sessions).
    private IEnumerable<Measurement<long>> ObserveQueues()
    {
        var depth = Broker.GetQueueDepth();
        return
        [
            new(depth.Queued, new KeyValuePair<string, object?>("state", "queued")),
            new(depth.Inflight, new KeyValuePair<string, object?>("state", "inflight")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveAuthFailures()
    {
        var s = Broker.SecurityCounters;
        return
        [
            new(Read(ref s.AuthenticationFailed), new KeyValuePair<string, object?>("reason", "bad_credentials")),
            new(Read(ref s.AnonymousRefused), new KeyValuePair<string, object?>("reason", "anonymous_refused")),
            new(Read(ref s.LoginsThrottled), new KeyValuePair<string, object?>("reason", "throttled")),
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
            // Refused by the server before the broker saw them (Transport/ServerCounters).
            new(Read(ref _admission.Counters.HttpConnectionsExceeded), new KeyValuePair<string, object?>("cause", "http_connections")),
            new(Read(ref _admission.Counters.WebSocketOriginRefused), new KeyValuePair<string, object?>("cause", "websocket_origin")),
            new(Read(ref s.SessionOwnerMismatch), new KeyValuePair<string, object?>("cause", "session_owner_mismatch")),
            new(Read(ref s.TakeoverRateExceeded), new KeyValuePair<string, object?>("cause", "takeover_rate")),
            new(Read(ref s.CredentialsExpired), new KeyValuePair<string, object?>("cause", "credentials_expired")),
            new(Read(ref s.WillNotAuthorized), new KeyValuePair<string, object?>("cause", "will_not_authorized")),
        ];
    }

    public void Dispose() => Meter.Dispose();
}
