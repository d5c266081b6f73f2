using System.Net;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>Counts and logs (rate-limited) every denial of the permissions it wraps.</summary>
internal sealed class GuardedAuthorization(IClientAuthorization inner, SecurityRuntime security, ClientIdentity client, EndPoint? remote)
    : IClientAuthorization
{
    public bool CanPublish(string topic)
    {
        if (inner.CanPublish(topic))
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.PublishNotAuthorized);
        security.Log.Write(RejectionCause.PublishNotAuthorized, $"client '{client.ClientId}' (user '{client.Username}', {remote}) may not publish to '{topic}'");
        return false;
    }

    public bool CanSubscribe(string filter)
    {
        if (inner.CanSubscribe(filter))
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.SubscribeNotAuthorized);
        security.Log.Write(RejectionCause.SubscribeNotAuthorized, $"client '{client.ClientId}' (user '{client.Username}', {remote}) may not subscribe to '{filter}'");
        return false;
    }

    public bool CanReceive(string topic)
    {
        if (inner.CanReceive(topic))
        {
            return true;
        }
        // Not logged: a wide subscription meeting many unreadable topics is normal; counted only.
        Interlocked.Increment(ref security.Counters.DeliveryNotAuthorized);
        return false;
    }
}
