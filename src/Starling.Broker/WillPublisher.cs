namespace Starling.Broker;

/// <summary>
/// Publishes a client's will: at once when its connection ends without DISCONNECT, or when a delayed will falls due
/// (sessions). One per broker; any thread.
/// </summary>
internal sealed class WillPublisher(BrokerOptions options, TimeProvider time, RetainedStore retained, Router router)
{
    /// <summary>Publishes a will (stored too when it is retained).</summary>
    public void Publish(Protocol.WillMessage will, string clientId)
    {
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
