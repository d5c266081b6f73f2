using Starling.Broker.Storage;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Given a message, finds the matching subscriptions and hands the message to each session once. A session matched
/// by several of its subscriptions gets one delivery at the highest granted QoS with every subscription identifier
/// [MQTT-3.3.4-2..5]; each shared group gets one delivery to one member. Work lists are per thread and reused, so
/// routing to one subscriber allocates nothing. What routing produced (congested subscriber, commit ticket) is
/// returned as a <see cref="RouteResult"/>, never left in thread-static state.
/// </summary>
internal sealed class Router(TopicIndex index, BrokerCounters counters)
{
    // Per-thread scratch caches, not results: filled and emptied within one Route call on the calling thread (nothing
    // survives the call), kept only so that routing allocates no list per message.
    [ThreadStatic] private static List<Subscription>? t_plain;
    [ThreadStatic] private static List<SharedGroup>? t_groups;
    [ThreadStatic] private static Dictionary<Session, int>? t_bySession;
    [ThreadStatic] private static List<Merged>? t_merged;

    /// <summary>
    /// Routes <paramref name="message"/>: the number of sessions it was handed to, the first congested subscriber met
    /// and the commit ticket covering every store operation the deliveries queued.
    /// </summary>
    public RouteResult Route(Message message)
    {
        var plain = t_plain ??= new List<Subscription>(16);
        var groups = t_groups ??= new List<SharedGroup>(4);
        plain.Clear();
        groups.Clear();
        index.Match(message.Topic, plain, groups);
        var delivered = 0;
        var outcome = new Outcome();
        if (plain.Count == 1)
        {
            delivered += DeliverOne(plain[0], message, ref outcome) ? 1 : 0;
        }
        else if (plain.Count > 1)
        {
            delivered += DeliverMerged(plain, message, ref outcome);
        }
        foreach (var group in groups)
        {
            // Pick checked the member's read access: only a member that may read the topic takes the message.
            if (group.Pick(message.Topic) is { } member)
            {
                var qos = Min(message.QoS, member.Options.QoS);
                outcome.Add(member.Session.Deliver(message, qos, member.Options.RetainAsPublished && message.Retain, member.IdArray, group));
                delivered++;
            }
        }
        plain.Clear();
        groups.Clear();
        if (delivered > 0)
        {
            Interlocked.Add(ref counters.MessagesDelivered, delivered);
        }
        return new RouteResult(delivered, outcome.Congested, outcome.Ticket, outcome.Full);
    }

    private static bool DeliverOne(Subscription subscription, Message message, ref Outcome outcome)
    {
        if (IsLocalExcluded(subscription, message))
        {
            return false;
        }
        if (subscription.Session.Authorization?.CanReceive(message.Topic) == false)
        {
            subscription.Session.CountDrop(DropReason.NotAuthorized);
            return false;
        }
        var qos = Min(message.QoS, subscription.Options.QoS);
        // Live messages go out with RETAIN 0 unless the subscription asked for Retain As Published [MQTT-3.3.1-9], [MQTT-3.3.1-12].
        var retain = subscription.Options.RetainAsPublished && message.Retain;
        outcome.Add(subscription.Session.Deliver(message, qos, retain, subscription.IdArray));
        return true;
    }

    private static int DeliverMerged(List<Subscription> matches, Message message, ref Outcome outcome)
    {
        var bySession = t_bySession ??= new Dictionary<Session, int>(ReferenceEqualityComparer.Instance);
        var merged = t_merged ??= [];
        bySession.Clear();
        merged.Clear();
        foreach (var s in matches)
        {
            if (IsLocalExcluded(s, message))
            {
                continue;
            }
            if (s.Session.Authorization?.CanReceive(message.Topic) == false)
            {
                s.Session.CountDrop(DropReason.NotAuthorized);
                continue;
            }
            var qos = Min(message.QoS, s.Options.QoS);
            var retain = s.Options.RetainAsPublished && message.Retain;
            if (bySession.TryGetValue(s.Session, out var at))
            {
                var m = merged[at];
                m.QoS = (QualityOfService)Math.Max((byte)m.QoS, (byte)qos);
                m.Retain |= retain;
                if (s.SubscriptionId != 0)
                {
                    // Only a session with several matching subscriptions (rare) gets an array of its own.
                    m.Ids = m.Ids is null ? s.IdArray : [.. m.Ids, s.SubscriptionId];
                }
                merged[at] = m;
            }
            else
            {
                bySession[s.Session] = merged.Count;
                merged.Add(new Merged(s.Session, qos, retain, s.IdArray));
            }
        }
        foreach (var m in merged)
        {
            outcome.Add(m.Session.Deliver(message, m.QoS, m.Retain, m.Ids));
        }
        var count = merged.Count;
        bySession.Clear();
        merged.Clear();
        return count;
    }

    /// <summary>
    /// Re-sends messages a departed shared-subscription member had not finished to another member. Runs on the
    /// departing connection's cleanup, which acknowledges nothing and waits for nobody: the results are dropped.
    /// </summary>
    public static void Redistribute(List<Delivery> deliveries, BrokerCounters counters)
    {
        foreach (var d in deliveries)
        {
            if (d.Group!.Pick(d.Message.Topic) is not { } member)
            {
                // Nobody left to take it: the message is lost for this group (counted, finding 20).
                Interlocked.Increment(ref counters.MessagesDroppedNoGroupMember);
                continue;
            }
            if (member.Session.Authorization?.CanReceive(d.Message.Topic) == false)
            {
                member.Session.CountDrop(DropReason.NotAuthorized);
                continue;
            }
            member.Session.Deliver(d.Message, Min(d.Message.QoS, member.Options.QoS), d.Retain, member.IdArray, d.Group);
        }
    }

    // No Local: not back to the session that published it [MQTT-3.8.3-3].
    private static bool IsLocalExcluded(Subscription s, Message message)
        => s.Options.NoLocal && message.PublisherClientId is { } publisher && publisher == s.Session.ClientId;

    /// <summary>Accumulates per-session results into one <see cref="RouteResult"/> (a local, no allocation).</summary>
    private struct Outcome
    {
        public IDeliverySink? Congested;
        public CommitTicket Ticket;
        public int Full;

        public void Add(in DeliverResult result)
        {
            Full += result.QueueFull ? 1 : 0;
            // The first congested subscriber is the one waited for (as before: the read loop stops after the packet).
            Congested ??= result.Congested;
            Ticket = CommitTicket.Latest(Ticket, result.Ticket);
        }
    }

    private static QualityOfService Min(QualityOfService a, QualityOfService b) => a < b ? a : b;

    /// <summary>
    /// One session's merged delivery. <see cref="Ids"/> starts as the first subscription's shared
    /// <see cref="Subscription.IdArray"/>: deliveries only read subscription id arrays, never write them.
    /// </summary>
    private struct Merged(Session session, QualityOfService qos, bool retain, uint[]? ids)
    {
        public Session Session = session;
        public QualityOfService QoS = qos;
        public bool Retain = retain;
        public uint[]? Ids = ids;
    }
}
