using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests;

/// <summary>Retained messages: kept for later subscribers (retain flag set), cleared by an empty retained publish.</summary>
public sealed class RetainedTests
{
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Retained_message_reaches_a_later_subscriber_and_an_empty_retained_publish_clears_it(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("ret") + "/state";

        await MosquittoClients.PublishAsync(broker, version, topic, "on", qos: 1, retain: true);

        // A later subscriber gets it at once, with the retain flag, at min(published QoS, granted QoS).
        await using (var later = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 2, count: 1))
        {
            var m = await later.ReadMessageAsync();
            Assert.Equal(new ReceivedMessage(true, 1, topic, "on"), m);
            await later.AssertExitsCleanlyAsync();
        }

        // A zero-length retained publish removes it (MQTT-3.3.1-10/11): a new subscriber gets nothing retained, so
        // the first message it sees is the live, non-retained sentinel published after it subscribed.
        await MosquittoClients.PublishAsync(broker, version, topic, null, qos: 1, retain: true);
        await using var after = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 1, count: 1);
        await MosquittoClients.PublishAsync(broker, version, topic, "sentinel", qos: 1);
        var first = await after.ReadMessageAsync();
        Assert.Equal(new ReceivedMessage(false, 1, topic, "sentinel"), first);
    });

    /// <summary>A retained publish delivered to an existing subscription carries retain 0 (MQTT-3.3.1-9).</summary>
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Retained_publish_reaches_existing_subscribers_without_the_retain_flag(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("ret") + "/live";
        var (live, _) = await Paho.SubscribeAsync(broker, version, [topic], qos: 1, count: 1, clientId: Matrix.Unique("l"));
        await using var _ = live;

        await MosquittoClients.PublishAsync(broker, version, topic, "now", qos: 1, retain: true);
        Assert.Equal(new ReceivedMessage(false, 1, topic, "now"), await live.ReadMessageAsync());

        // ...and it was stored: a later paho subscriber sees it with the retain flag.
        var (later, _) = await Paho.SubscribeAsync(broker, version, [topic], qos: 0, count: 1, clientId: Matrix.Unique("r"));
        await using var __ = later;
        Assert.Equal(new ReceivedMessage(true, 0, topic, "now"), await later.ReadMessageAsync());
    });

    /// <summary>Only the last retained message per topic is kept; a wildcard subscriber gets one per topic.</summary>
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Last_retained_message_per_topic_is_kept(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var prefix = Matrix.Unique("ret");
        await MosquittoClients.PublishAsync(broker, version, prefix + "/a", "a1", qos: 0, retain: true);
        await MosquittoClients.PublishAsync(broker, version, prefix + "/a", "a2", qos: 0, retain: true);
        await MosquittoClients.PublishAsync(broker, version, prefix + "/b", "b1", qos: 1, retain: true);

        await using var sub = await MosquittoClients.SubscribeAsync(broker, version, [prefix + "/+"], qos: 1);
        var retained = await sub.ReadMessagesAsync(2);
        await MosquittoClients.PublishAsync(broker, version, prefix + "/c", "sentinel", qos: 1);
        var sentinel = await sub.ReadMessageAsync();

        Assert.Equal(
            [$"{prefix}/a a2 retain", $"{prefix}/b b1 retain"],
            retained.Select(m => $"{m.Topic} {m.Payload} {(m.Retain ? "retain" : "live")}").Order(StringComparer.Ordinal));
        Assert.Equal(new ReceivedMessage(false, 1, prefix + "/c", "sentinel"), sentinel);
    });
}
