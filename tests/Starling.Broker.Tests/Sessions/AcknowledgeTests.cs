using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Starling.Broker.Storage;
using Starling.Broker.Tests.Sessions;
using Starling.Protocol;

namespace Starling.Broker.Tests;

/// <summary>
/// <see cref="BrokerStorage.Acknowledge"/> with the <see cref="CommitTicket"/> a publish handler carries back: an ack
/// whose operations are not committed waits for the commit, and later acks of the session wait behind it.
/// </summary>
public class AcknowledgeTests
{
    [Fact]
    public async Task MQTT_4_6_0_2_an_ack_waits_for_its_ticket_and_later_acks_keep_their_order()
    {
        var time = new FakeTimeProvider();
        using var store = new GatedStore();
        var storage = new BrokerStorage(store, time, NullLogger.Instance);
        try
        {
            var session = new Session("publisher", new SessionServices(new BrokerOptions(), new BrokerCounters(), time, storage));
            var connection = new RecordingSink();
            var ticket = storage.Enqueue(StoreOperation.UpsertSession(new StoredSession("publisher", 60, null)));
            Assert.True(ticket.IsPending);

            storage.Acknowledge(session, connection, ticket, PacketType.PubAck, 1, ReasonCode.Success);
            // Nothing of its own to wait for, but it must not overtake the ack before it.
            storage.Acknowledge(session, connection, default, PacketType.PubAck, 2, ReasonCode.Success);
            await store.WaitForApplyAsync();
            Assert.Empty(connection.Records);

            store.Open();
            await connection.WaitForCountAsync(2);
            Assert.Equal([(ushort)1, (ushort)2], connection.Records.Select(r => r.PacketId));

            // Once nothing waits any more, an ack without a pending ticket leaves at once.
            Assert.True(SpinWait.SpinUntil(() => !session.MustDeferAck(default), TimeSpan.FromSeconds(10)));
            storage.Acknowledge(session, connection, default, PacketType.PubAck, 3, ReasonCode.Success);
            Assert.Equal(3, connection.Records.Count);
        }
        finally
        {
            store.Open();
            await storage.StopAsync();
        }
    }

    [Fact]
    public void Without_a_store_acks_leave_at_once()
    {
        var time = new FakeTimeProvider();
        var storage = new BrokerStorage(null, time, NullLogger.Instance);
        var session = new Session("publisher", new SessionServices(new BrokerOptions(), new BrokerCounters(), time, storage));
        var connection = new RecordingSink();

        storage.Acknowledge(session, connection, storage.Enqueue(StoreOperation.ClearWill("publisher")), PacketType.PubRec, 9, ReasonCode.Success);

        Assert.Equal((PacketType.PubRec, (ushort)9), (connection.Records.Single().Type, connection.Records.Single().PacketId));
    }
}
