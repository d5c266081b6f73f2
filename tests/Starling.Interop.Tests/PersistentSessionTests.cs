using System.Globalization;
using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests;

/// <summary>
/// Persistent sessions (clean session 0): a subscription made before a disconnect still receives, on reconnect,
/// every QoS 1/2 message published while the client was away.
/// </summary>
public sealed class PersistentSessionTests
{
    private const int OfflineMessages = 50;

    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Mosquitto_sub_receives_messages_queued_while_it_was_offline(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("ps") + "/q";
        var clientId = Matrix.Unique("ps");

        // -c -i id -q 1 -E: create the session and its subscription, then disconnect cleanly.
        await using (var first = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 1, clientId: clientId, cleanSession: false, exitAfterSubscribe: true))
        {
            await first.AssertExitsCleanlyAsync();
        }

        await PublishNumberedAsync(broker, version, topic, OfflineMessages, qos: 1);

        await using var again = await MosquittoClients.SubscribeAsync(
            broker, version, [topic], qos: 1, count: OfflineMessages, clientId: clientId, cleanSession: false);
        var messages = await again.ReadMessagesAsync(OfflineMessages, TimeSpan.FromSeconds(30));
        Assert.Equal(Numbered(OfflineMessages), messages.Select(m => m.Payload));
        Assert.All(messages, m => Assert.Equal(1, m.Qos));
        await again.AssertExitsCleanlyAsync();
    });

    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Paho_receives_qos1_and_qos2_messages_queued_while_it_was_offline_and_sees_session_present(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("ps") + "/q";
        var clientId = Matrix.Unique("pp");

        var (first, present) = await Paho.SubscribeAsync(broker, version, [topic], qos: 2, count: 0, clientId: clientId, cleanSession: false);
        await using (first)
        {
            Assert.False(present, "a brand-new session must not be reported as present");
            first.Process.CloseStandardInput();
            await first.AssertExitsCleanlyAsync();
        }

        await MosquittoClients.PublishAsync(broker, version, topic, "one", qos: 1);
        await MosquittoClients.PublishAsync(broker, version, topic, "two", qos: 2);
        await MosquittoClients.PublishAsync(broker, version, topic, "zero", qos: 0);
        await MosquittoClients.PublishAsync(broker, version, topic, "three", qos: 2);

        // QoS 0 messages to an offline client may or may not be queued; QoS 1/2 must be, in order.
        var (again, presentAgain) = await Paho.SubscribeAsync(broker, version, [topic], qos: 2, count: 0, clientId: clientId, cleanSession: false);
        await using var _ = again;
        if (version != "31")
        {
            // MQTT 3.1 has no session-present flag; 3.1.1 and 5.0 must report the stored session (MQTT-3.2.2-2, MQTT-3.2.2-3).
            Assert.True(presentAgain, "CONNACK must report the stored session");
        }

        await MosquittoClients.PublishAsync(broker, version, topic, "sentinel", qos: 2);
        var received = new List<string>();
        while (received.LastOrDefault() != "sentinel")
        {
            var m = await again.ReadMessageAsync();
            received.Add(m.Payload);
        }

        Assert.Equal(["one", "two", "three", "sentinel"], received.Where(p => p != "zero"));
    });

    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Clean_session_discards_the_previous_session(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("ps") + "/q";
        var clientId = Matrix.Unique("pc");

        await using (var first = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 1, clientId: clientId, cleanSession: false, exitAfterSubscribe: true))
        {
            await first.AssertExitsCleanlyAsync();
        }

        await MosquittoClients.PublishAsync(broker, version, topic, "stale", qos: 1);

        // Reconnecting with clean session 1 drops the stored subscription and the queued message.
        var (clean, present) = await Paho.SubscribeAsync(broker, version, [topic + "-other"], qos: 1, count: 0, clientId: clientId, cleanSession: true);
        await using (clean)
        {
            Assert.False(present, "clean session 1 must report session present 0 (MQTT-3.2.2-1)");
            clean.Process.CloseStandardInput();
            await clean.AssertExitsCleanlyAsync();
            Assert.DoesNotContain(await DrainAsync(clean.Process), l => l.Contains("stale", StringComparison.Ordinal));
        }

        // And the old subscription is gone: a persistent reconnect without subscribing to the topic gets nothing of it.
        await using var again = await MosquittoClients.SubscribeAsync(broker, version, [topic + "-probe"], qos: 1, count: 1, clientId: clientId, cleanSession: false);
        await MosquittoClients.PublishAsync(broker, version, topic, "after", qos: 1);
        await MosquittoClients.PublishAsync(broker, version, topic + "-probe", "probe", qos: 1);
        Assert.Equal(new ReceivedMessage(false, 1, topic + "-probe", "probe"), await again.ReadMessageAsync());
    });

    private static async Task<List<string>> DrainAsync(ExternalProcess process)
    {
        var lines = new List<string>();
        while (await process.TryReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    private static async Task PublishNumberedAsync(TestBroker broker, string version, string topic, int count, int qos)
    {
        await using var pub = MosquittoClients.StartLinePublisher(broker, version, topic, qos, TimeSpan.FromSeconds(60));
        foreach (var line in Numbered(count))
        {
            await pub.StandardInput.WriteLineAsync(line);
        }

        pub.CloseStandardInput();
        var code = await pub.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"mosquitto_pub -l exit code {code}.{pub.Diagnostics()}");
    }

    private static IEnumerable<string> Numbered(int count) =>
        Enumerable.Range(1, count).Select(i => "n" + i.ToString(CultureInfo.InvariantCulture));
}
