using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Limits and behaviour of the broker core. Listener addresses live in the server's configuration, not here.
/// Every value is validated by <see cref="Validate"/> before the broker starts.
/// </summary>
public sealed class BrokerOptions
{
    /// <summary>Largest inbound packet accepted, fixed header included; larger ones close the connection (0x95 for v5).</summary>
    public int MaxPacketSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>
    /// Largest CONNECT accepted, fixed header included (at most <see cref="MaxPacketSize"/>): before CONNECT nobody is
    /// authenticated, so a socket may make the broker buffer only this much. 256 KiB holds a client id, a username
    /// and a password at their largest (64 KiB each) plus a will of 64 KiB; larger wills need a larger value.
    /// A larger CONNECT closes the connection without decoding it.
    /// </summary>
    public int MaxConnectPacketSize { get; set; } = 256 * 1024;

    /// <summary>Outbound QoS 1/2 messages unacknowledged at once per session (further ones wait in the queue).</summary>
    public int MaxInflightMessages { get; set; } = 20;

    /// <summary>QoS 1/2 messages queued per session behind the inflight window; past it new messages are dropped and counted.</summary>
    public int MaxQueuedMessages { get; set; } = 1000;

    /// <summary>
    /// Bytes of payload queued per session behind the inflight window (0 = no byte limit). Default 32 MiB: two
    /// largest packets (16 MiB) or a full default queue (1,000 messages) of 32 KiB each, so a default install keeps the
    /// count limit in charge for ordinary traffic while a few slow subscribers of large messages cannot take the RAM.
    /// </summary>
    public long MaxQueuedBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Whether QoS 0 messages are queued for offline persistent sessions (Mosquitto's queue_qos0_messages).</summary>
    public bool QueueQoS0Messages { get; set; }

    /// <summary>Connections allowed at once (0 = no limit); past it CONNACK 0x89/0x97 ("server unavailable" for 3.1.1).</summary>
    public int MaxConnections { get; set; }

    /// <summary>Time a new connection has to send CONNECT before it is closed.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether clients without a username may connect.</summary>
    public bool AllowAnonymous { get; set; } = true;

    /// <summary>Whether a zero-length client id is accepted (with clean session; the server then assigns one).</summary>
    public bool AllowZeroLengthClientId { get; set; } = true;

    /// <summary>Largest client id length accepted (the standard requires servers to allow 23; most allow more).</summary>
    public int MaxClientIdLength { get; set; } = 65535;

    /// <summary>Highest QoS the server grants and accepts (announced to v5 clients as Maximum QoS when below 2).</summary>
    public QualityOfService MaximumQoS { get; set; } = QualityOfService.ExactlyOnce;

    /// <summary>Whether retained messages are supported (announced to v5 clients as Retain Available).</summary>
    public bool RetainAvailable { get; set; } = true;

    /// <summary>
    /// Inbound QoS 1/2 publishes a v5 client may have unacknowledged (announced as Receive Maximum). Enforced on QoS 2
    /// flows awaiting PUBREL (DISCONNECT 0x93); QoS 1 is acknowledged at once (or after its commit) and never trips it.
    /// The default, 1024, is far above what clients keep in flight (paho and Mosquitto's clients: 20) and bounds the
    /// packet ids a client can park on the server; 65535 would announce nothing (the protocol's default).
    /// </summary>
    public int ReceiveMaximum { get; set; } = 1024;

    /// <summary>Topic aliases a v5 client may use toward the server (announced as Topic Alias Maximum; 0 disables).</summary>
    public int TopicAliasMaximum { get; set; } = 10;

    /// <summary>Largest keep-alive accepted; a v5 client asking more is told this value (Server Keep Alive). 0 = any.</summary>
    public int MaxKeepAliveSeconds { get; set; }

    /// <summary>
    /// Expiry of persistent 3.1.1 sessions and cap for v5 ones, in seconds (uint.MaxValue = never; a v5 client asking
    /// more is told this value in CONNACK). Default 7 days (Mosquitto's persistent_client_expiration, which defaults to
    /// never): long enough for a device that is off over a long weekend or a week's holiday, short enough that
    /// abandoned client ids (test runs, renamed devices, random ids with clean session 0) do not pile up for ever.
    /// </summary>
    public uint MaxSessionExpiryInterval { get; set; } = DefaultMaxSessionExpiryInterval;

    /// <summary>The default of <see cref="MaxSessionExpiryInterval"/>: 7 days.</summary>
    public const uint DefaultMaxSessionExpiryInterval = 7 * 24 * 3600;

    /// <summary>Whether a v5 PUBLISH that says its payload is UTF-8 (format indicator 1) is checked; invalid ones get 0x99.</summary>
    public bool ValidatePayloadFormat { get; set; } = true;

    /// <summary>
    /// Response Information returned to v5 clients that ask for it (Request Response Information = 1); "{clientid}"
    /// is replaced by the client id. Null: not offered.
    /// </summary>
    public string? ResponseInformation { get; set; }

    /// <summary>When set, every CONNECT is redirected: v5 clients get 0x9C (or 0x9D) with this Server Reference.</summary>
    public string? ServerReference { get; set; }

    /// <summary>With <see cref="ServerReference"/>: the move is permanent (0x9D Server moved) rather than 0x9C.</summary>
    public bool ServerMoved { get; set; }

    /// <summary>Authentication, authorization and limits against hostile clients (docs/security.md).</summary>
    public Starling.Broker.Security.SecurityOptions Security { get; set; } = new();

    /// <summary>
    /// Whether the server assigns topic aliases on PUBLISH to v5 clients that accept them (their Topic Alias Maximum),
    /// saving the topic bytes on repeated topics. Off by default, as in Mosquitto: it costs a little CPU per message.
    /// </summary>
    public bool OutboundTopicAliases { get; set; }

    /// <summary>
    /// Store operations queued for the store's writer and not yet committed before publishers that add to it are paused
    /// (they stop being read until it is below half). Bounds the queue while the disk is slow or full (issue 16).
    /// </summary>
    public long StoreMaxQueuedOperations { get; set; } = 100_000;

    /// <summary>Estimated bytes (payloads plus a fixed cost per operation) of the store writer's queue before publishers are paused.</summary>
    public long StoreMaxQueuedBytes { get; set; } = 64L * 1024 * 1024;

    // ---- Broker-state limits (issue 16, findings 3 and 20; docs/security.md "Limits") ----

    /// <summary>
    /// Retained topics the broker holds (0 = no limit). Past it a retained PUBLISH to a new topic is delivered but not
    /// stored (v5 QoS 1/2: PUBACK/PUBREC 0x97); updating or deleting an existing topic still works. 100,000 is far above
    /// what ordinary installs retain (one state topic per device) and costs at most ~30 MB of bookkeeping.
    /// </summary>
    public int MaxRetainedMessages { get; set; } = 100_000;

    /// <summary>
    /// Bytes (topic plus payload) of all retained messages together (0 = no limit), refused like
    /// <see cref="MaxRetainedMessages"/>; an update that would pass it is refused too. 256 MiB fits a default install
    /// on a small machine; a single retained message is bounded by <see cref="MaxPacketSize"/>.
    /// </summary>
    public long MaxRetainedBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Sessions at once, connected and offline persistent ones (0 = no limit). A CONNECT that would create a new one past
    /// it gets CONNACK 0x97 Quota exceeded (v5) / 0x03 Server unavailable (3.1.1); a client id that has a session still
    /// connects. 100,000 is above what Limits:MaxOpenConnections allows at the usual open-file limits.
    /// </summary>
    public int MaxSessions { get; set; } = 100_000;

    /// <summary>
    /// Persistent sessions (expiry above 0) that anonymous clients from one IP address may create and keep (0 = no
    /// limit). Past it a CONNECT that would create a new persistent session gets CONNACK 0x97 (v5) / 0x03 (3.1.1); a
    /// clean session, and resuming an existing one, is still accepted. 1,000 is 1% of <see cref="MaxSessions"/>'s
    /// default: one address cannot fill the session table and keep every other client's new id out for a week.
    /// </summary>
    public int MaxPersistentSessionsPerAddress { get; set; } = 1_000;

    /// <summary>
    /// Persistent sessions one authenticated identity (username or certificate identity) may create and keep, refused
    /// like <see cref="MaxPersistentSessionsPerAddress"/>; 0 (the default) = no limit, since fleets often share one
    /// account (docs/security.md, "Limits").
    /// </summary>
    public int MaxPersistentSessionsPerUser { get; set; }

    /// <summary>
    /// UTF-8 bytes of the topic filters one session may hold together (0 = no limit); a filter that would pass it gets
    /// SUBACK 0x97 (v5) / 0x80. 1 MiB: 10,000 filters of 100 bytes; refuses 10,000 filters of 64 KB (640 MB).
    /// </summary>
    public long MaxSubscriptionBytesPerClient { get; set; } = 1024 * 1024;

    /// <summary>
    /// Wire bytes the user properties of one property block may take (0 = no limit; a CONNECT's will properties are a
    /// block of their own). Past it the decoder stops before materialising the rest: DISCONNECT 0x97 Quota exceeded
    /// (v5; before CONNACK the connection is closed), as for the 1,024-property count cap. 64 KiB is hundreds of times
    /// what tracing or routing headers need, and keeps a 1-byte-payload message from carrying megabytes of properties.
    /// </summary>
    public int MaxUserPropertyBytes { get; set; } = 64 * 1024;

    /// <summary>The decoder's argument for <see cref="MaxUserPropertyBytes"/> (0 means no limit).</summary>
    internal int UserPropertyByteLimit => MaxUserPropertyBytes > 0 ? MaxUserPropertyBytes : int.MaxValue;

    /// <summary>What happens to a QoS 1/2 message when a session's queue is full (default: drop the newest, as Mosquitto).</summary>
    public QueueFullPolicy QueueFullPolicy { get; set; } = QueueFullPolicy.DropNewest;

    /// <summary>At most one log line per state limit per interval (the others are counted and reported with the next line).</summary>
    public TimeSpan LimitLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting and the fix when a value is out of range.</summary>
    public void Validate()
    {
        Require(MaxPacketSize is >= 16 and <= 268_435_460, nameof(MaxPacketSize), "between 16 and 268435460 bytes");
        Require(MaxConnectPacketSize is >= 16 and <= 268_435_460, nameof(MaxConnectPacketSize), "between 16 and 268435460 bytes");
        Require(MaxInflightMessages is >= 1 and <= 65535, nameof(MaxInflightMessages), "between 1 and 65535");
        Require(MaxQueuedMessages >= 0, nameof(MaxQueuedMessages), "0 or more");
        Require(MaxQueuedBytes >= 0, nameof(MaxQueuedBytes), "0 (no limit) or more");
        Require(MaxConnections >= 0, nameof(MaxConnections), "0 (no limit) or more");
        Require(ConnectTimeout > TimeSpan.Zero, nameof(ConnectTimeout), "a positive time span such as 00:00:10");
        Require(MaxClientIdLength is >= 23 and <= 65535, nameof(MaxClientIdLength), "between 23 and 65535");
        Require(MaximumQoS <= QualityOfService.ExactlyOnce, nameof(MaximumQoS), "0, 1 or 2");
        Require(ReceiveMaximum is >= 1 and <= 65535, nameof(ReceiveMaximum), "between 1 and 65535");
        Require(TopicAliasMaximum is >= 0 and <= 65535, nameof(TopicAliasMaximum), "between 0 and 65535");
        Require(MaxKeepAliveSeconds is >= 0 and <= 65535, nameof(MaxKeepAliveSeconds), "between 0 (no limit) and 65535");
        Require(StoreMaxQueuedOperations >= 1, nameof(StoreMaxQueuedOperations), "1 or more");
        Require(StoreMaxQueuedBytes >= 1024, nameof(StoreMaxQueuedBytes), "1024 bytes or more");
        Require(MaxRetainedMessages >= 0, nameof(MaxRetainedMessages), "0 (no limit) or more");
        Require(MaxRetainedBytes >= 0, nameof(MaxRetainedBytes), "0 (no limit) or more bytes");
        Require(MaxSessions >= 0, nameof(MaxSessions), "0 (no limit) or more");
        Require(MaxPersistentSessionsPerAddress >= 0, nameof(MaxPersistentSessionsPerAddress), "0 (no limit) or more, e.g. 1000");
        Require(MaxPersistentSessionsPerUser >= 0, nameof(MaxPersistentSessionsPerUser), "0 (no limit) or more, e.g. 10000");
        Require(MaxSubscriptionBytesPerClient >= 0, nameof(MaxSubscriptionBytesPerClient), "0 (no limit) or more bytes");
        Require(MaxUserPropertyBytes >= 0, nameof(MaxUserPropertyBytes), "0 (no limit) or more bytes, e.g. 65536");
        Require(Enum.IsDefined(QueueFullPolicy), nameof(QueueFullPolicy), "DropNewest, DropOldest or RejectPublish");
        Require(LimitLogInterval >= TimeSpan.Zero, nameof(LimitLogInterval), "0 or more seconds");
        Security.Validate();
    }

    private static void Require(bool condition, string setting, string expectation)
    {
        if (!condition)
        {
            throw new ArgumentException($"Broker setting '{setting}' is out of range: it must be {expectation}.", setting);
        }
    }
}
