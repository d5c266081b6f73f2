using Microsoft.Extensions.Logging;

namespace Starling.Broker.Storage;

/// <summary>What <see cref="BatchCommitter.Commit"/> did with a batch.</summary>
/// <param name="FirstRefused">
/// The queue position (as given by the caller) of the first operation the store refused for lack of room;
/// <see cref="int.MaxValue"/> when every operation was written.
/// </param>
/// <param name="Written">Operations written.</param>
/// <param name="Refused">Operations refused for lack of room (not written, never retried).</param>
/// <param name="GaveUp">Stopping made the writer give up on a failing write: nothing more is written.</param>
internal readonly record struct BatchResult(int FirstRefused, int Written, int Refused, bool GaveUp);

/// <summary>
/// Writes one batch for the <see cref="StoreWriter"/> thread. A transient failure (locked, I/O error) is logged and
/// retried with the same operations, so acknowledgements wait and nothing acknowledged is lost. A batch the store has
/// no room for (<see cref="StoreException.IsOutOfSpace"/>: Storage:MaxDatabaseSize reached, disk full) is never
/// retried as it is, which would hold every later commit for ever: it is split. First the operations that free space
/// or do not grow it (deletions, removed deliveries and subscriptions, delivery state changes) are written, then the
/// rest, halving a part that does not fit until single operations are refused (at most
/// <see cref="MaxSplitAttempts"/> transactions per batch, the remainder is refused). Refused operations are reported
/// to the writer, whose commit callbacks then see <see cref="CommitOutcome.Refused"/>.
/// </summary>
internal sealed class BatchCommitter(IStore store, ILogger log, LogThrottle refusedLog, Func<bool> stopping)
{
    /// <summary>Transactions tried while splitting one batch; bounds the time a full store costs per batch.</summary>
    public const int MaxSplitAttempts = 32;

    /// <summary>
    /// Writes <paramref name="operations"/>; <paramref name="positions"/>[i] is the queue position of operations[i],
    /// used to report the first refused one.
    /// </summary>
    public BatchResult Commit(List<StoreOperation> operations, List<int> positions)
    {
        var first = ApplyWithRetry(operations, out var cause);
        return first switch
        {
            Result.Written => new BatchResult(int.MaxValue, operations.Count, 0, false),
            Result.GaveUp => new BatchResult(int.MaxValue, 0, 0, true),
            _ => Split(operations, positions, cause!),
        };
    }

    /// <summary>Whether an operation can make the store bigger (a row added or replaced by a larger one).</summary>
    public static bool Grows(StoreOperationKind kind) => kind is StoreOperationKind.UpsertSession or StoreOperationKind.SetWill
        or StoreOperationKind.AddSubscription or StoreOperationKind.AddDelivery or StoreOperationKind.AddInboundQoS2 or StoreOperationKind.SetRetained;

    private BatchResult Split(List<StoreOperation> operations, List<int> positions, StoreException cause)
    {
        // An operation that does not grow the store goes first unless an earlier one of the batch grows the same
        // session or retained topic (ClientId): moving "remove X" before "add X" would leave X in the store.
        var early = new List<int>();
        var late = new List<int>();
        HashSet<string>? grown = null;
        for (var i = 0; i < operations.Count; i++)
        {
            var op = operations[i];
            if (Grows(op.Kind))
            {
                (grown ??= new HashSet<string>(StringComparer.Ordinal)).Add(op.ClientId);
                late.Add(i);
            }
            else if (grown?.Contains(op.ClientId) == true)
            {
                late.Add(i);
            }
            else
            {
                early.Add(i);
            }
        }
        var refused = new List<int>();
        var budget = MaxSplitAttempts;
        if (!Write(operations, early, 0, early.Count, refused, ref budget) || !Write(operations, late, 0, late.Count, refused, ref budget))
        {
            return new BatchResult(int.MaxValue, 0, 0, true);
        }
        var firstRefused = int.MaxValue;
        foreach (var i in refused)
        {
            firstRefused = Math.Min(firstRefused, positions[i]);
        }
        // A client can cause this (by filling the store): one line per interval at most.
        if (refused.Count > 0 && refusedLog.ShouldLog(out var suppressed))
        {
            StorageLog.OperationsRefusedNoRoom(log, store.Description, refused.Count, operations.Count, cause.Message, suppressed, refusedLog.IntervalSeconds);
        }
        return new BatchResult(firstRefused, operations.Count - refused.Count, refused.Count, false);
    }

    /// <summary>Writes subset[from..to) in order, halving what does not fit; false when stopping gave up.</summary>
    private bool Write(List<StoreOperation> operations, List<int> subset, int from, int to, List<int> refused, ref int budget)
    {
        if (from >= to)
        {
            return true;
        }
        if (budget <= 0)
        {
            for (var i = from; i < to; i++)
            {
                refused.Add(subset[i]);
            }
            return true;
        }
        budget--;
        var chunk = new List<StoreOperation>(to - from);
        for (var i = from; i < to; i++)
        {
            chunk.Add(operations[subset[i]]);
        }
        switch (ApplyWithRetry(chunk, out _))
        {
            case Result.Written:
                return true;
            case Result.GaveUp:
                return false;
        }
        if (to - from == 1)
        {
            refused.Add(subset[from]);
            return true;
        }
        var mid = from + (to - from) / 2;
        return Write(operations, subset, from, mid, refused, ref budget) && Write(operations, subset, mid, to, refused, ref budget);
    }

    private enum Result : byte { Written, OutOfSpace, GaveUp }

    /// <summary>Applies the operations in one transaction, retrying transient failures; out of space is returned at once.</summary>
    private Result ApplyWithRetry(IReadOnlyList<StoreOperation> operations, out StoreException? outOfSpace)
    {
        outOfSpace = null;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                store.Apply(operations);
                if (attempt > 1)
                {
                    StorageLog.WriteRecovered(log, store.Description, attempt - 1);
                }
                return Result.Written;
            }
            catch (StoreException ex) when (ex.IsOutOfSpace)
            {
                outOfSpace = ex;
                return Result.OutOfSpace;
            }
            catch (Exception ex)
            {
                if (stopping() && attempt >= 3)
                {
                    StorageLog.GivingUpAtShutdown(log, ex, operations.Count, store.Description, ex.Message);
                    return Result.GaveUp;
                }
                if (attempt == 1 || attempt % 30 == 0)
                {
                    StorageLog.WriteFailed(log, ex, store.Description, ex.Message);
                }
                Thread.Sleep(Math.Min(250 * attempt, 3000));
            }
        }
    }
}
