using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests;

/// <summary>Will messages with a paho client: published when the client process dies, not on a clean DISCONNECT.</summary>
public sealed class WillTests
{
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Will_is_published_when_the_client_process_is_killed(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var willTopic = Matrix.Unique("will") + "/status";
        await using var observer = await MosquittoClients.SubscribeAsync(broker, version, [willTopic], qos: 1, count: 1);

        await using var client = await Paho.ConnectWithWillAsync(broker, version, Matrix.Unique("w"), willTopic, "gone", willQos: 1);
        client.Kill();

        var will = await observer.ReadMessageAsync();
        Assert.Equal(new ReceivedMessage(false, 1, willTopic, "gone"), will);
        await observer.AssertExitsCleanlyAsync();
    });

    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Will_is_not_published_after_a_clean_disconnect(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var willTopic = Matrix.Unique("will") + "/status";
        await using var observer = await MosquittoClients.SubscribeAsync(broker, version, [willTopic], qos: 1, count: 1);

        await using (var client = await Paho.ConnectWithWillAsync(broker, version, Matrix.Unique("w"), willTopic, "gone", willQos: 1))
        {
            await client.WriteLineAsync("disconnect");
            Assert.Equal("DISCONNECTED", await client.ReadLineAsync());
            Assert.Equal(0, await client.WaitForExitAsync());
        }

        // The will would have been published when the broker handled the DISCONNECT, before this sentinel arrives;
        // so the first message the observer gets must be the sentinel.
        await MosquittoClients.PublishAsync(broker, version, willTopic, "sentinel", qos: 1);
        var first = await observer.ReadMessageAsync();
        Assert.Equal(new ReceivedMessage(false, 1, willTopic, "sentinel"), first);
    });

    /// <summary>A retained will outlives the client: a subscriber arriving after the kill still gets it, retained.</summary>
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Retained_will_reaches_a_subscriber_that_arrives_after_the_client_died(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var willTopic = Matrix.Unique("will") + "/status";
        await using var observer = await MosquittoClients.SubscribeAsync(broker, version, [willTopic], qos: 1, count: 1);

        await using var client = await Paho.ConnectWithWillAsync(broker, version, Matrix.Unique("w"), willTopic, "offline", willQos: 1, willRetain: true);
        client.Kill();
        Assert.Equal(new ReceivedMessage(false, 1, willTopic, "offline"), await observer.ReadMessageAsync());

        await using var later = await MosquittoClients.SubscribeAsync(broker, version, [willTopic], qos: 1, count: 1);
        Assert.Equal(new ReceivedMessage(true, 1, willTopic, "offline"), await later.ReadMessageAsync());
    });
}
