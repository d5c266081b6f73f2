using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// Publishes a client's will: at once when its connection ends without DISCONNECT, or when a delayed will falls due
/// (sessions). One per broker; any thread. A will is a PUBLISH made on the client's behalf, so the PUBLISH rules apply
/// at publication time too: never into the broker's own <c>$SYS</c> tree, and only where the client's current
/// permissions (an ACL reloaded since CONNECT included) let it write.
/// </summary>
internal sealed class WillPublisher(BrokerOptions options, TimeProvider time, RetainedStore retained, Router router, SecurityRuntime security)
{
    /// <summary>The broker's own tree, which clients may not publish into (PUBLISH, wills): "$SYS" and "$SYS/...".</summary>
    public static bool IsSysTopic(string topic) => topic.StartsWith("$SYS", StringComparison.Ordinal) && (topic.Length == 4 || topic[4] == '/');

    /// <summary>
    /// Publishes a will (stored too when it is retained) unless <paramref name="authorization"/> (the permissions of the
    /// client it belongs to; null = everything) no longer lets the client publish to its topic.
    /// </summary>
    public void Publish(Protocol.WillMessage will, IClientAuthorization? authorization, string clientId)
    {
        if (IsSysTopic(will.Topic) || authorization?.CanPublish(will.Topic) == false)
        {
            Interlocked.Increment(ref security.Counters.WillNotAuthorized);
            security.Log.Write(RejectionCause.WillNotAuthorized, $"will of client '{clientId}' to '{will.Topic}' not published: the client may not publish there");
            return;
        }
        var properties = will.Properties;
        if (properties is not null)
        {
            // Will properties that describe the message travel with it; the delay itself does not.
            properties = properties.Clone();
            properties.WillDelayInterval = null;
        }
        var message = new Message(will.Topic, will.Payload, will.QoS, will.Retain, properties, clientId, time.GetTimestamp());
        if (will.Retain && options.RetainAvailable)
        {
            // A will past the retained limits is still delivered (RetainedStore counts and logs the refusal).
            retained.TrySet(message, out _);
        }
        router.Route(message);
    }
}
