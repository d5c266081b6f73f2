namespace Starling.Broker.Storage;

/// <summary>The <see cref="StoreWriter"/>'s batch compaction: work that cancels out within one batch never reaches the store.</summary>
internal static class StoreBatchCompaction
{
    /// <summary>
    /// Drops deliveries that were added and completed within this batch (a subscriber online that acknowledged before
    /// the commit): their add, state changes and removal never reach the store, nor does their message when no other
    /// operation refers to it. What remains has the same effect on the store as the whole batch. <paramref name="positions"/>
    /// (each operation's queue position) is kept in step. Returns the number of operations dropped.
    /// </summary>
    public static int Compact(List<StoreOperation> operations, List<int> positions)
    {
        Dictionary<(string, long), int>? added = null;
        HashSet<int>? dropped = null;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            switch (op.Kind)
            {
                case StoreOperationKind.AddDelivery:
                    (added ??= [])[(op.ClientId, op.Sequence)] = i;
                    break;
                case StoreOperationKind.UpdateDelivery when added is not null && added.ContainsKey((op.ClientId, op.Sequence)):
                    (dropped ??= []).Add(i);
                    break;
                case StoreOperationKind.RemoveDelivery when added is not null && added.Remove((op.ClientId, op.Sequence), out var at):
                    (dropped ??= []).Add(i);
                    dropped.Add(at);
                    break;
                case StoreOperationKind.DeleteSession when added is not null:
                    // Later operations of a new session with the same id must not match adds of the deleted one.
                    foreach (var key in added.Keys.Where(k => k.Item1 == op.ClientId).ToList())
                    {
                        added.Remove(key);
                    }
                    break;
            }
        }
        if (dropped is null)
        {
            return 0;
        }
        // Keep updates of adds that were not completed (they were marked before knowing): re-add them.
        if (added is { Count: > 0 })
        {
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                if (op.Kind == StoreOperationKind.UpdateDelivery && added.TryGetValue((op.ClientId, op.Sequence), out var at) && at < i)
                {
                    dropped.Remove(i);
                }
            }
        }
        var write = 0;
        for (var read = 0; read < operations.Count; read++)
        {
            if (!dropped.Contains(read))
            {
                positions[write] = positions[read];
                operations[write++] = operations[read];
            }
        }
        var removed = operations.Count - write;
        operations.RemoveRange(write, removed);
        positions.RemoveRange(write, removed);
        return removed;
    }
}
