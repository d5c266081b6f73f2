namespace Starling.Broker.Security;

/// <summary>
/// Authentication, authorization and the limits that protect the broker from hostile or broken clients. Part of
/// <see cref="BrokerOptions"/>; every value is checked by <see cref="Validate"/>. 0 means "no limit" where it says so.
/// </summary>
public sealed class SecurityOptions
{
    /// <summary>Asked in order at CONNECT; the first that allows or refuses decides. Empty: any username is accepted.</summary>
    public List<IAuthenticator> Authenticators { get; } = [];

    /// <summary>
    /// MQTT 5 enhanced authentication methods (CONNECT with an Authentication Method, AUTH exchange, re-authentication).
    /// A method not listed gets CONNACK 0x8C. Each method's name must be unique.
    /// </summary>
    public List<EnhancedAuth.IEnhancedAuthenticator> EnhancedAuthenticators { get; } = [];

    /// <summary>Asked once per CONNECT; a client may do what every authorizer allows. Empty: everything is allowed.</summary>
    public List<IAuthorizer> Authorizers { get; } = [];

    /// <summary>Open connections from one IP address, before and after CONNECT (0 = no limit); past it the socket is closed at once.</summary>
    public int MaxConnectionsPerAddress { get; set; }

    /// <summary>
    /// Open connections at once, before and after CONNECT, on every listener (0 = no limit); past it new sockets are
    /// closed at once. Each connection holds a file descriptor, and a .NET process that runs out of them aborts (a new
    /// thread needs one), so starling-server sets this from the open-file limit unless it is configured.
    /// </summary>
    public int MaxOpenConnections { get; set; }

    /// <summary>Connections that have not completed CONNECT yet (0 = no limit); past it new sockets are closed at once.</summary>
    public int MaxPendingConnections { get; set; } = 10_000;

    /// <summary>Subscriptions one session may hold (0 = no limit); past it SUBACK 0x97 (v5) / 0x80 (3.1.1) for the new filter.</summary>
    public int MaxSubscriptionsPerClient { get; set; } = 10_000;

    /// <summary>Longest topic name or filter in UTF-16 characters; longer ones are refused (PUBACK 0x90, SUBACK 0x8F / 0x80).</summary>
    public int MaxTopicLength { get; set; } = 65_535;

    /// <summary>Most levels ('/'-separated parts) in a topic name or filter; more are refused like an over-long topic.</summary>
    public int MaxTopicLevels { get; set; } = 1024;

    /// <summary>PUBLISH packets per second one connection may send on average (0 = no limit); see <see cref="PublishBurst"/>.</summary>
    public double MaxPublishRate { get; set; }

    /// <summary>Token bucket size: publishes a connection may send at once above the rate (default: one second's worth).</summary>
    public int PublishBurst { get; set; }

    /// <summary>
    /// Overload guard: new CONNECTs are refused (0x89 server busy for v5, return code 3 for 3.1.1) while the managed heap is above
    /// this fraction of the memory available to the process (0 disables).
    /// </summary>
    public double MaxMemoryFraction { get; set; } = 0.85;

    /// <summary>
    /// What a CONNECT gets when its client id names a session that another identity (username, certificate identity or
    /// anonymous) created: refused by default (docs/security.md, "Session ownership").
    /// </summary>
    public SessionOwnership SessionOwnership { get; set; } = SessionOwnership.Refuse;

    /// <summary>
    /// Takeovers of one client id (a CONNECT displacing its connected holder) allowed per minute (0 = no limit); past it
    /// further takeovers of that id are refused (CONNACK 0x9F / 3) until the minute that began with the first has passed.
    /// </summary>
    public int MaxTakeoversPerMinute { get; set; } = 10;

    /// <summary>At most one log line per rejection cause per interval; the others are counted and reported with the next line.</summary>
    public TimeSpan RejectionLogInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Failed logins from one IP address within <see cref="FailedLoginWindowSeconds"/> after which further CONNECTs with
    /// credentials from it are refused at once (CONNACK 0x9F / 3) until the window ends (0 = no limit).
    /// </summary>
    public int MaxFailedLoginsPerAddress { get; set; } = 30;

    /// <summary>Failed logins for one username within the window after which that username is refused at once (0 = no limit).</summary>
    public int MaxFailedLoginsPerUser { get; set; } = 10;

    /// <summary>The window of the failed-login limits, in seconds, counted from the first failure of the window.</summary>
    public double FailedLoginWindowSeconds { get; set; } = 60;

    /// <summary>
    /// Addresses and usernames the failed-login limits remember, each (their memory bound); past it expired entries are
    /// dropped, then the oldest.
    /// </summary>
    public int MaxTrackedFailedLogins { get; set; } = 10_000;

    /// <summary>Whether any authentication is configured (then, unless set explicitly, anonymous clients are refused).</summary>
    public bool HasAuthentication => Authenticators.Count > 0;

    public void Validate()
    {
        Require(MaxConnectionsPerAddress >= 0, nameof(MaxConnectionsPerAddress), "0 (no limit) or more");
        Require(MaxOpenConnections >= 0, nameof(MaxOpenConnections), "0 (no limit) or more");
        Require(MaxPendingConnections >= 0, nameof(MaxPendingConnections), "0 (no limit) or more");
        Require(MaxSubscriptionsPerClient >= 0, nameof(MaxSubscriptionsPerClient), "0 (no limit) or more");
        Require(MaxTopicLength is >= 1 and <= 65_535, nameof(MaxTopicLength), "between 1 and 65535");
        Require(MaxTopicLevels >= 1, nameof(MaxTopicLevels), "1 or more");
        Require(MaxPublishRate >= 0 && double.IsFinite(MaxPublishRate), nameof(MaxPublishRate), "0 (no limit) or a positive number of messages per second");
        Require(PublishBurst >= 0, nameof(PublishBurst), "0 (one second's worth) or more");
        Require(MaxMemoryFraction is >= 0 and <= 1, nameof(MaxMemoryFraction), "between 0 (disabled) and 1, e.g. 0.85");
        Require(MaxFailedLoginsPerAddress >= 0, nameof(MaxFailedLoginsPerAddress), "0 (no limit) or more");
        Require(MaxFailedLoginsPerUser >= 0, nameof(MaxFailedLoginsPerUser), "0 (no limit) or more");
        Require(FailedLoginWindowSeconds is > 0 and <= 86_400, nameof(FailedLoginWindowSeconds), "a number of seconds above 0 and at most 86400, e.g. 60");
        Require(MaxTrackedFailedLogins >= 1, nameof(MaxTrackedFailedLogins), "1 or more, e.g. 10000");
        Require(Enum.IsDefined(SessionOwnership), nameof(SessionOwnership), "refuse, replace or off");
        Require(MaxTakeoversPerMinute >= 0, nameof(MaxTakeoversPerMinute), "0 (no limit) or more");
        Require(RejectionLogInterval >= TimeSpan.Zero, nameof(RejectionLogInterval), "0 or more seconds");
    }

    private static void Require(bool condition, string setting, string expectation)
    {
        if (!condition)
        {
            throw new ArgumentException($"Broker setting '{setting}' is out of range: it must be {expectation}.", setting);
        }
    }
}

/// <summary>What a CONNECT gets when its client id names a session created by another identity.</summary>
public enum SessionOwnership
{
    /// <summary>
    /// Refused (CONNACK 0x87 / 5, Not authorized): the other identity's connection stays, its session, queue and will
    /// are untouched. The default.
    /// </summary>
    Refuse,

    /// <summary>
    /// The other identity's session ends (its connection is disconnected, its will goes out, its queue is dropped) and
    /// the CONNECT gets a fresh one: nothing of it is resumed. Mosquitto's takeover without the resumption.
    /// </summary>
    Replace,

    /// <summary>Not checked: any identity resumes the session (the behaviour before ownership existed; unsafe).</summary>
    Off,
}
