namespace Starling.Broker;

/// <summary>
/// What happens to a connected client's session and will when its connection ends: detach, then publish or schedule
/// the will [MQTT-3.1.2-8], [MQTT-3.1.3-9], discard a connection-scoped session and hand its shared-group messages on.
/// One per broker; called by the ending connection's read loop after its writer finished.
/// </summary>
internal sealed class SessionRelease(SessionRegistry sessions, WillPublisher wills, BrokerCounters counters, TimeProvider time)
{
    public void Release(MqttConnection connection, ref ConnectionState state)
    {
        var session = state.Session!;
        var detached = session.Detach(connection);
        // Credentials that expired or were revoked publish nothing more, the will included.
        if (state.Will is { } will && !state.DisconnectReceived && state.Credentials?.HaveEnded(time) != true)
        {
            var delay = will.Properties?.WillDelayInterval ?? 0;
            if (!detached && !session.IsEnded && state.Version == Protocol.ProtocolVersion.V500)
            {
                // v5: a new connection resumed the session (a takeover without Clean Start) before the delay passed,
                // which with a delay of 0 is the same instant: no will [MQTT-3.1.3-9]. 3.1.1 ties the will to the
                // network connection, so there (as with Mosquitto) it goes out below.
            }
            else if (delay == 0 || (detached && session.ExpiryInterval == 0) || session.IsEnded)
            {
                wills.Publish(will, state.Authorization, state.ClientId);
            }
            else if (detached)
            {
                session.ScheduleWill(will, Math.Min(delay, session.ExpiryInterval));
            }
        }
        if (detached)
        {
            var orphans = session.TakeSharedForRedistribution();
            if (session.ExpiryInterval == 0)
            {
                sessions.Discard(session);
            }
            if (orphans is not null)
            {
                Router.Redistribute(orphans, counters);
            }
        }
    }
}
