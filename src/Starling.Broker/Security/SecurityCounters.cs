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
    /// <summary>CONNECTs refused because their client id's session belongs to another identity (Auth:SessionOwnership).</summary>
    public long SessionOwnerMismatch;
    /// <summary>CONNECTs refused because their client id was taken over too often (Limits:MaxTakeoversPerMinute).</summary>
    public long TakeoverRateExceeded;
    /// <summary>Connections closed because their credentials expired (JWT exp) or were revoked by a reload.</summary>
    public long CredentialsExpired;
    /// <summary>Wills not published because their client may not (any more) publish to the will topic, or it is $SYS.</summary>
    public long WillNotAuthorized;
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
    SessionOwnerMismatch,
    TakeoverRate,
    CredentialsExpired,
    WillNotAuthorized,
}
