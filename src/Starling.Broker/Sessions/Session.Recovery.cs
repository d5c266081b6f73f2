using System.Diagnostics;
using System.Runtime.CompilerServices;
using Starling.Broker.Security;
using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Recovery of a <see cref="Session"/> read back from the store at start-up, before any connection exists: no store
/// operations are queued. Guarded by the session's monitor like the rest of the session.
/// </summary>
internal sealed partial class Session
{
    public void Restore(StoredSession stored, long nowTimestamp, long nowMs)
    {
        lock (this)
        {
            _journal = new SessionJournal(_services.Storage, ClientId);
            _flow.SetJournal(_journal);
            _expiryInterval = stored.ExpiryInterval;
            Identity = stored.Owner;
            // A session that was connected when the broker stopped counts its expiry from the restart.
            DisconnectedTimestamp = stored.DisconnectedAtMs is { } at ? nowTimestamp - _services.Storage.MsToTicks(Math.Max(0, nowMs - at)) : nowTimestamp;
            if (stored.Will is { } w)
            {
                var will = new WillMessage { Topic = w.Topic, Payload = w.Payload, QoS = w.QoS, Retain = w.Retain, Properties = StoredProperties.Decode(w.Properties) };
                _delayedWill = new DelayedWill(will, nowTimestamp + _services.Storage.MsToTicks(w.DueAtMs - nowMs));
            }
        }
    }

    public void RestoreSubscription(Subscription subscription)
    {
        lock (this)
        {
            PutSubscription(subscription);
        }
    }

    public void RestoreQueue(long count, long bytes, long lastSequence) => _flow.RestoreQueue(count, bytes, lastSequence);

    public void RestoreInflight(Delivery delivery) => _flow.RestoreInflight(delivery);

    public void RestoreInboundQoS2(ushort packetId)
    {
        lock (this)
        {
            (_inboundQoS2 ??= []).Add(packetId);
        }
    }
}
