namespace Starling.Broker.Security;

/// <summary>Why the broker said no, counted since start (incremented with <see cref="Interlocked"/>).</summary>
public sealed class SecurityCounters
{
#pragma warning disable CA1051 // Public fields: Interlocked needs a ref to the field itself.
    public long AuthenticationFailed;
    public long AnonymousRefused;
    public long ConnectionsPerAddressExceeded;
    public long PendingConnectionsExceeded;
    public long OpenConnectionsExceeded;
    public long Overloaded;
    public long PublishNotAuthorized;
    public long SubscribeNotAuthorized;
    public long DeliveryNotAuthorized;
    public long PublishRateExceeded;
    public long SubscriptionLimitExceeded;
    public long TopicLimitExceeded;
    public long LoginsThrottled;
#pragma warning restore CA1051
}

/// <summary>The causes the rejection log distinguishes (one rate-limited log line per cause).</summary>
public enum RejectionCause
{
    AuthenticationFailed,
    AnonymousRefused,
    ConnectionsPerAddress,
    PendingConnections,
    Overloaded,
    PublishNotAuthorized,
    SubscribeNotAuthorized,
    DeliveryNotAuthorized,
    PublishRate,
    SubscriptionLimit,
    TopicLimit,
    OpenConnections,
    LoginThrottled,
}
