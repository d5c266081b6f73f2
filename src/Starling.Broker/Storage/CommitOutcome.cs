namespace Starling.Broker.Storage;

/// <summary>What became of the store operations queued before a commit callback (<see cref="ICommitCallback"/>).</summary>
internal enum CommitOutcome : byte
{
    /// <summary>Every operation queued before the callback (in its batch and the earlier ones) is durable.</summary>
    Committed,

    /// <summary>
    /// The store had no room (its size limit or a full disk) and refused at least one operation that was queued before
    /// the callback in the same batch. Which one is not tracked per callback: every callback queued after the first
    /// refused operation of the batch sees this, so an acknowledgement is never positive for something not stored
    /// (it may be negative for something that was stored; the publisher then sends it again, which QoS 1/2 allows).
    /// </summary>
    Refused,
}

/// <summary>Work that runs on the writer thread once every operation queued before it has been written or refused.</summary>
internal interface ICommitCallback
{
    /// <summary>
    /// Runs after the batch holding the operations queued before it; <paramref name="outcome"/> says whether all of them
    /// are durable. Must not block (it runs on the store's only writer thread).
    /// </summary>
    void OnCommitted(IStore store, CommitOutcome outcome);
}
