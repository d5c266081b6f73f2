using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// One subscription of one session to one topic filter. Immutable: a SUBSCRIBE that changes the options of an
/// existing filter replaces the object in the index (copy-on-write), so readers never see it change.
/// </summary>
internal sealed class Subscription(Session session, string filter, string topicFilter, SubscriptionOptions options, uint subscriptionId, string? shareName)
{
    public Session Session { get; } = session;

    /// <summary>The filter as the client sent it (with a $share prefix for shared subscriptions): the session's key.</summary>
    public string Filter { get; } = filter;

    /// <summary>The filter matched against topics (without the $share/{name}/ prefix).</summary>
    public string TopicFilter { get; } = topicFilter;

    public SubscriptionOptions Options { get; } = options;

    /// <summary>0 when the SUBSCRIBE carried no Subscription Identifier.</summary>
    public uint SubscriptionId { get; } = subscriptionId;

    /// <summary>The identifier as a one-element array, shared by every delivery (null when none).</summary>
    public uint[]? IdArray { get; } = subscriptionId == 0 ? null : [subscriptionId];

    /// <summary>Share name of a shared subscription, else null.</summary>
    public string? ShareName { get; } = shareName;
}
