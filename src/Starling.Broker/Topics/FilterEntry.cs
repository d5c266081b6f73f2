namespace Starling.Broker;

/// <summary>
/// The subscriptions of one topic filter. Both arrays are immutable snapshots replaced under the index's write lock,
/// so the routing path reads them without a lock (rule 3).
/// </summary>
internal sealed class FilterEntry
{
    public volatile Subscription[] Subscribers = [];
    public volatile SharedGroup[] Groups = [];

    public bool IsEmpty => Subscribers.Length == 0 && Groups.Length == 0;
}
