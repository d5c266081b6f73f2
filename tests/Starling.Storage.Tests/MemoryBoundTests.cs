using System.Globalization;
using System.Text;
using Starling.Broker.Storage;
using Starling.Protocol;
using Starling.Testing;
using Starling.Storage.Tests.Infrastructure;

namespace Starling.Storage.Tests;

/// <summary>An offline durable session's queue lives in the store: memory holds counters, and at most a page while attached.</summary>
public sealed class MemoryBoundTests
{
    [Fact]
    public async Task An_offline_session_keeps_its_queue_in_the_store_and_pages_it_in_when_attached()
    {
        const int Count = 20_000;
        var store = new MemoryStore();
        var options = new Starling.Broker.BrokerOptions { MaxQueuedMessages = 1_000_000 };
        await using (var host = new BrokerHost(store, options))
        {
            await using (var sub = await RawMqttClient.ConnectSessionAsync(host.Endpoint, "far", cleanSession: false))
            {
                await sub.SubscribeAllAsync(("m/#", QualityOfService.AtLeastOnce));
                await sub.DisconnectAsync();
            }
            await using var pub = await RawMqttClient.ConnectSessionAsync(host.Endpoint, "pub", cleanSession: true);
            var batch = new List<Task<ReasonCode>>();
            for (var i = 1; i <= Count; i++)
            {
                batch.Add(pub.PublishAckedAsync("m/x", Encoding.UTF8.GetBytes(i.ToString(CultureInfo.InvariantCulture)), QualityOfService.AtLeastOnce));
                if (batch.Count == 200)
                {
                    await Task.WhenAll(batch);
                    batch.Clear();
                }
            }
            await Task.WhenAll(batch);
            var session = host.Broker.Sessions.Find("far")!;
            Assert.Equal(Count, session.QueuedCount);
            Assert.Equal(0, session.InMemoryQueuedCount);
            Assert.Equal(Count, store.GetStatistics().Messages); // each message stored once

            await using var again = await RawMqttClient.ConnectSessionAsync(host.Endpoint, "far", cleanSession: false);
            var maxInMemory = 0;
            var got = new List<string>();
            while (got.Count < Count)
            {
                var page = await again.ReceiveMessagesAsync(500, TimeSpan.FromSeconds(5));
                Assert.NotEmpty(page);
                got.AddRange(page.Select(m => m.Text));
                maxInMemory = Math.Max(maxInMemory, session.InMemoryQueuedCount);
            }
            Assert.Equal(Enumerable.Range(1, Count).Select(i => i.ToString(CultureInfo.InvariantCulture)), got);
            Assert.InRange(maxInMemory, 0, BrokerStorage.PageSize);
            await again.DisconnectAsync();
        }

        // Same store, new broker: a restart that finds nothing left to deliver.
        await using (var host = new BrokerHost(store, options))
        {
            Assert.Equal(0, host.Broker.Sessions.Find("far")!.QueuedCount);
        }
    }
}
