namespace Starling.Broker;

/// <summary>
/// What happens to a connected client's session and will when its connection ends: detach, then publish or schedule
/// the will [MQTT-3.1.2-8], [MQTT-3.1.3-9], discard a connection-scoped session and hand its shared-group messages on.
/// One per broker; called by the ending connection's read loop after its writer finished.
/// </summary>
internal sealed class SessionRelease(SessionRegistry sessions, WillPublisher wills, BrokerCounters counters)
{
    public void Release(MqttConnection connection, ref ConnectionState state)
    {
        var session = state.Session!;
        var detached = session.Detach(connection);
        if (state.Will is { } will && !state.DisconnectReceived)
        {
            var delay = will.Properties?.WillDelayInterval ?? 0;
            if (delay == 0 || (detached && session.ExpiryInterval == 0) || session.IsEnded)
            {
                wills.Publish(will, state.ClientId);
            }
            else if (detached)
            {
                session.ScheduleWill(will, Math.Min(delay, session.ExpiryInterval));
            }
            // else: a new connection resumed the session before the delay passed: no will [MQTT-3.1.3-9].
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
