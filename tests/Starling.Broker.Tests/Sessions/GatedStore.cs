using Starling.Broker.Storage;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// A <see cref="MemoryStore"/> whose commits wait until the test opens the gate, so a test can observe what the broker
/// does (and does not do) before a commit. <see cref="Applied"/> signals each transaction that starts.
/// </summary>
internal sealed class GatedStore : IStore
{
    private readonly MemoryStore _inner = new();
    private readonly ManualResetEventSlim _open = new(false);
    private readonly SemaphoreSlim _applying = new(0);

    public string Description => "gated in-memory store";

    public void Open() => _open.Set();

    /// <summary>
    /// Holds the next transactions at the gate again. Call it only while the writer is idle (everything queued so far
    /// was committed and its callbacks ran): it also forgets the transactions that started before, so that
    /// <see cref="WaitForApplyAsync"/> waits for one that starts after this call.
    /// </summary>
    public void Close()
    {
        _open.Reset();
        while (_applying.Wait(0))
        {
        }
    }

    /// <summary>Waits until a transaction has started (and is held at the gate unless it is open).</summary>
    public async Task WaitForApplyAsync() => Assert.True(await _applying.WaitAsync(TimeSpan.FromSeconds(10)), "no store transaction started");

    public StoreContents Load() => _inner.Load();

    public IReadOnlyList<StoredDelivery> LoadQueued(string clientId, long afterSequence, int limit) => _inner.LoadQueued(clientId, afterSequence, limit);

    public void Apply(IReadOnlyList<StoreOperation> operations)
    {
        _applying.Release();
        _open.Wait(TimeSpan.FromSeconds(30));
        _inner.Apply(operations);
    }

    public StoreStatistics GetStatistics() => _inner.GetStatistics();

    public void Dispose()
    {
        _open.Set();
        _inner.Dispose();
    }
}
