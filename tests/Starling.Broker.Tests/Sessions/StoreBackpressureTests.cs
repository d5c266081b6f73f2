using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// Issue 16, finding 3 (store writer's queue): while the store cannot commit (a slow or full disk, here a store held
/// at a gate), publishers that add to its queue stop being read once it is past its limit, instead of the queue growing
/// with every PUBLISH; no PUBACK leaves before its commit, and every held-back one follows once the store writes again.
/// </summary>
public sealed class StoreBackpressureTests
{
    [Fact]
    public async Task A_blocked_store_pauses_publishers_at_the_write_queue_limit_and_acknowledges_only_after_the_commit()
    {
        var store = new GatedStore();
        store.Open(); // the setup commits
        await using var broker = new MqttBroker(new BrokerOptions { StoreMaxQueuedOperations = 10 }, store: store);
        await using (var sub = RawMqttClient.Attach(broker))
        {
            await sub.ConnectAsync("keeper", clean: false); // a durable session: its queued messages are stored
            await sub.SubscribeAsync("q/#", QualityOfService.AtLeastOnce);
        }
        await Eventually.TrueAsync(() => broker.GetSession("keeper") is { Connected: false }, "the subscriber is offline");
        await Eventually.TrueAsync(() => broker.StorageState.Writer!.PendingOperations == 0, "the setup is committed");
        store.Close();

        await using var pub = RawMqttClient.Attach(broker);
        await pub.ConnectAsync("pub");
        const int count = 100;
        await pub.SendManyAsync(Enumerable.Range(1, count).Select(i => (MqttPacket)new PublishPacket
        {
            Topic = "q/x",
            Payload = new System.Buffers.ReadOnlySequence<byte>(new byte[100]),
            QoS = QualityOfService.AtLeastOnce,
            PacketId = (ushort)i,
        }));

        // The publisher's read loop stops at the PUBLISH that took the queue past 10 operations.
        await Eventually.TrueAsync(() => Interlocked.Read(ref broker.Counters.StorePublisherPauses) > 0, "the publisher is paused");
        var received = Interlocked.Read(ref broker.Counters.MessagesReceived);
        Assert.InRange(received, 1, 11); // before the fix: all 100 read and queued while nothing could be written
        Assert.InRange(broker.StorageState.Writer!.PendingOperations, 1, 11);

        store.Open();
        for (var i = 1; i <= count; i++)
        {
            var ack = await pub.ExpectAsync<PubAckPacket>();
            Assert.Equal((ushort)i, ack.PacketId); // in order, each after its commit
        }
        Assert.Equal(count, Interlocked.Read(ref broker.Counters.MessagesReceived));
        Assert.Equal(count, store.GetStatistics().Deliveries); // every acknowledged message is in the store
    }
}
