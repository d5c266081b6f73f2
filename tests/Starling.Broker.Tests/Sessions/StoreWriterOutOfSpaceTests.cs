using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Broker.Storage;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// The store writer and a store without room (issue 16 review, "the store freezes at Storage:MaxDatabaseSize"): before,
/// a batch that could not fit was retried for ever and every later commit, and so every acknowledgement, waited behind
/// it. Now the batch is split: what frees space is written, what does not fit is refused (its callbacks see
/// <see cref="CommitOutcome.Refused"/>), and the writer goes on with the next batch.
/// </summary>
public sealed class StoreWriterOutOfSpaceTests
{
    private static StoredSubscription Sub(string clientId, string filter)
        => new(clientId, filter, QualityOfService.AtLeastOnce, false, false, RetainHandling.SendAtSubscribe, 0);

    [Fact]
    public async Task A_batch_without_room_commits_its_deletions_refuses_its_growth_and_the_writer_goes_on()
    {
        using var store = new RoomlessStore();
        store.Inner.Apply([StoreOperation.UpsertSession(new StoredSession("old", 60, 1)), StoreOperation.AddSubscription(Sub("old", "o/1"))]);
        var writer = new StoreWriter(store, NullLogger.Instance, StoreLimits.Default);
        var outcomes = new ConcurrentDictionary<string, CommitOutcome>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void After(string name) => writer.AfterCommit(new Recorder(name, outcomes, all, 5));

        // Held at the store until everything below is queued, so it all lands in one batch.
        writer.Enqueue(StoreOperation.UpsertSession(new StoredSession("hold", 60, 1)));
        await store.WaitHeldAsync();
        After("before");
        writer.Enqueue(StoreOperation.UpsertSession(new StoredSession("new", 60, 1)));
        writer.Enqueue(StoreOperation.AddSubscription(Sub("new", "ok/1")));
        writer.Enqueue(StoreOperation.AddSubscription(Sub("new", "big/1")));  // does not fit
        After("after-growth");
        writer.Enqueue(StoreOperation.DeleteSession("old"));                  // frees space: written
        After("after-deletion");
        store.Release();

        await Eventually.TrueAsync(() => outcomes.Count == 3, "the callbacks of the split batch ran");
        Assert.Equal(CommitOutcome.Committed, outcomes["before"]);
        Assert.Equal(CommitOutcome.Refused, outcomes["after-growth"]);
        // Queued after a refused operation of its batch: refused too (which operation an ack needs is not tracked).
        Assert.Equal(CommitOutcome.Refused, outcomes["after-deletion"]);
        var contents = store.Inner.Load();
        Assert.DoesNotContain(contents.Sessions, s => s.ClientId == "old");
        Assert.Contains(contents.Sessions, s => s.ClientId == "new");
        Assert.Equal(["ok/1"], contents.Subscriptions.Select(s => s.Filter));
        Assert.Equal(1, writer.Refused);
        Assert.True(writer.IsFull, "after a refusal the store counts as full until something is deleted");

        // The writer goes on: the next batch (a deletion) commits, and the store has room again.
        writer.Enqueue(StoreOperation.RemoveSubscription("new", "ok/1"));
        After("next");
        writer.Enqueue(StoreOperation.AddSubscription(Sub("new", "ok/2")));
        After("growth-again");
        await all.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(CommitOutcome.Committed, outcomes["next"]);
        Assert.Equal(CommitOutcome.Committed, outcomes["growth-again"]);
        Assert.Equal(["ok/2"], store.Inner.Load().Subscriptions.Select(s => s.Filter));
        Assert.False(writer.IsFull);
        await writer.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_transient_failure_is_still_retried_until_it_succeeds()
    {
        using var store = new RoomlessStore { TransientFailures = 2 };
        var writer = new StoreWriter(store, NullLogger.Instance, StoreLimits.Default);
        var outcomes = new ConcurrentDictionary<string, CommitOutcome>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Release();
        writer.Enqueue(StoreOperation.UpsertSession(new StoredSession("s", 60, 1)));
        writer.AfterCommit(new Recorder("ack", outcomes, all, 1));
        await all.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(CommitOutcome.Committed, outcomes["ack"]);
        Assert.Single(store.Inner.Load().Sessions);
        Assert.Equal(0, writer.Refused);
        await writer.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    private sealed class Recorder(string name, ConcurrentDictionary<string, CommitOutcome> outcomes, TaskCompletionSource all, int expected) : ICommitCallback
    {
        public void OnCommitted(IStore store, CommitOutcome outcome)
        {
            outcomes[name] = outcome;
            if (outcomes.Count >= expected)
            {
                all.TrySetResult();
            }
        }
    }

    /// <summary>
    /// A memory store without room for a subscription to a "big/" filter: a batch holding one fails as SQLite's does at
    /// its page limit (out of space, nothing applied). The first batch waits for <see cref="Release"/>.
    /// </summary>
    private sealed class RoomlessStore : IStore
    {
        private readonly ManualResetEventSlim _release = new(false);
        private readonly SemaphoreSlim _held = new(0);

        public MemoryStore Inner { get; } = new();

        public int TransientFailures { get; set; }

        public string Description => "roomless test store";

        /// <summary>Completes once a batch has reached the store (and waits there until <see cref="Release"/>).</summary>
        public async Task WaitHeldAsync() => Assert.True(await _held.WaitAsync(TimeSpan.FromSeconds(10)), "no batch reached the store");

        public void Release() => _release.Set();

        public StoreContents Load() => Inner.Load();

        public IReadOnlyList<StoredDelivery> LoadQueued(string clientId, long afterSequence, int limit) => Inner.LoadQueued(clientId, afterSequence, limit);

        public void Apply(IReadOnlyList<StoreOperation> operations)
        {
            _held.Release();
            _release.Wait(TimeSpan.FromSeconds(30));
            if (TransientFailures > 0)
            {
                TransientFailures--;
                throw new StoreException("database is locked (test)");
            }
            if (operations.Any(o => o.Kind == StoreOperationKind.AddSubscription && o.Subscription!.Filter.StartsWith("big/", StringComparison.Ordinal)))
            {
                throw new StoreException("database or disk is full (test)") { IsOutOfSpace = true };
            }
            Inner.Apply(operations);
        }

        public StoreStatistics GetStatistics() => Inner.GetStatistics();

        public void Dispose()
        {
            _release.Set();
            Inner.Dispose();
        }
    }
}
