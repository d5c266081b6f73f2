using Starling.Broker.Storage;
using Starling.Protocol;
using Starling.Server;
using Starling.Storage.Sqlite;
using Starling.Storage.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Storage.Tests;

/// <summary>A damaged or truncated file, a locked directory, an unusable path, a full disk: a clear error, never silent loss.</summary>
public sealed class SqliteFaultTests
{
    private static string FillStore(string directory, int messages = 2000)
    {
        using var store = SqliteStore.Open(directory);
        var ops = new List<StoreOperation> { StoreOperation.UpsertSession(new StoredSession("a", 60, 1)) };
        for (var i = 1; i <= messages; i++)
        {
            var m = new StoredMessage { Id = i, Topic = "t/" + i, Payload = new byte[200], QoS = QualityOfService.AtLeastOnce, CreatedAtMs = 1 };
            ops.Add(StoreOperation.AddDelivery(new StoredDelivery("a", i, m, QualityOfService.AtLeastOnce, false, null, 0, StoredDeliveryState.Queued)));
        }
        store.Apply(ops);
        return store.FilePath;
    }

    [Fact]
    public void A_truncated_database_file_stops_opening_with_a_message_that_names_it()
    {
        using var dir = new TempDirectory();
        var path = FillStore(dir.Path);
        using (var file = new FileStream(path, FileMode.Open))
        {
            file.SetLength(file.Length / 2);
        }
        var ex = Assert.Throws<StoreException>(() => SqliteStore.Open(dir.Path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", ex.Message, StringComparison.Ordinal);
        Assert.Contains("move", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_a_database_stops_opening()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, SqliteStore.FileName);
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 8192).Select(i => (byte)(i * 7))]);
        var ex = Assert.Throws<StoreException>(() => SqliteStore.Open(dir.Path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Overwritten_pages_are_found_by_the_integrity_check()
    {
        using var dir = new TempDirectory();
        var path = FillStore(dir.Path);
        using (var file = new FileStream(path, FileMode.Open))
        {
            file.Position = file.Length / 2;
            file.Write([.. Enumerable.Repeat((byte)0xA5, 3 * 4096)]);
        }
        var ex = Assert.Throws<StoreException>(() => SqliteStore.Open(dir.Path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_server_does_not_start_on_a_damaged_store()
    {
        using var dir = new TempDirectory();
        var path = FillStore(dir.Path);
        using (var file = new FileStream(path, FileMode.Open))
        {
            file.SetLength(file.Length / 3);
        }
        var ex = await Assert.ThrowsAsync<StarlingStartupException>(() => TestServer.StartWithStoreAsync(dir.Path));
        Assert.Equal(1, ex.ExitCode);
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_data_directory_that_cannot_be_created_is_reported()
    {
        using var dir = new TempDirectory();
        var blocker = Path.Combine(dir.Path, "a-file");
        File.WriteAllText(blocker, "not a directory");
        var ex = Assert.Throws<StoreException>(() => SqliteStore.Open(Path.Combine(blocker, "data")));
        Assert.Contains(blocker, ex.Message, StringComparison.Ordinal);
        Assert.Contains("--data-dir", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_second_broker_on_the_same_directory_is_refused()
    {
        using var dir = new TempDirectory();
        using var first = SqliteStore.Open(dir.Path);
        first.Apply([StoreOperation.UpsertSession(new StoredSession("a", 1, null))]);
        var ex = Assert.Throws<StoreException>(() => SqliteStore.Open(dir.Path));
        Assert.Contains("another", ex.Message, StringComparison.Ordinal);
        Assert.Contains(first.FilePath, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_disk_fails_the_batch_with_a_message_and_keeps_what_was_committed()
    {
        using var dir = new TempDirectory();
        using (var store = SqliteStore.Open(dir.Path, new SqliteStoreOptions { MaxDatabaseSizeBytes = 200 * 1024 }))
        {
            store.Apply([StoreOperation.UpsertSession(new StoredSession("kept", 60, null))]);
            var big = new StoredMessage { Id = 1, Topic = "t", Payload = new byte[1024 * 1024], CreatedAtMs = 1 };
            var ex = Assert.Throws<StoreException>(() => store.Apply(
            [
                StoreOperation.UpsertSession(new StoredSession("lost", 60, null)),
                StoreOperation.AddDelivery(new StoredDelivery("lost", 1, big, QualityOfService.AtLeastOnce, false, null, 0, StoredDeliveryState.Queued)),
            ]));
            Assert.Contains("disk is full", ex.Message, StringComparison.Ordinal);
            Assert.Contains(store.FilePath, ex.Message, StringComparison.Ordinal);
        }
        using var reopened = SqliteStore.Open(dir.Path);
        Assert.Equal(["kept"], reopened.Load().Sessions.Select(s => s.ClientId)); // the failed batch left nothing half-written
    }

    [Fact]
    public async Task While_the_store_cannot_write_durable_publishes_are_not_acknowledged()
    {
        using var dir = new TempDirectory();
        var store = SqliteStore.Open(dir.Path, new SqliteStoreOptions { MaxDatabaseSizeBytes = 160 * 1024 });
        await using var host = new BrokerHost(store);
        await using (var sub = await RawMqttClient.ConnectSessionAsync(host.Endpoint, "slow", cleanSession: false))
        {
            await sub.SubscribeAllAsync(("f/#", QualityOfService.AtLeastOnce));
            await sub.DisconnectAsync();
        }
        await using var pub = await RawMqttClient.ConnectSessionAsync(host.Endpoint, "pub", cleanSession: true);
        var payload = new byte[16 * 1024];
        var acked = 0;
        Task<ReasonCode>? stuck = null;
        for (var i = 0; i < 40; i++)
        {
            var publish = pub.PublishAckedAsync("f/x", payload, QualityOfService.AtLeastOnce);
            if (await Task.WhenAny(publish, Task.Delay(2000)) != publish)
            {
                stuck = publish;
                break;
            }
            acked++;
        }
        Assert.NotNull(stuck); // the PUBACK is held back: the publisher keeps the message and will send it again
        Assert.InRange(acked, 1, 39);
        Assert.Contains(host.Logs.Errors, e => e.Contains("disk is full", StringComparison.Ordinal) && e.Contains(store.FilePath, StringComparison.Ordinal));
        await pub.DisposeAsync();
    }
}
