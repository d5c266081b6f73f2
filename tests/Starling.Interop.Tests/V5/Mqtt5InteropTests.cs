using System.Diagnostics;
using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests.V5;

/// <summary>
/// MQTT 5 features with third-party clients (paho-mqtt's MQTT 5 client and mosquitto_pub/sub -V 5), each case run
/// against Starling and against Mosquitto, the behavioural reference.
/// </summary>
public sealed class Mqtt5InteropTests
{
    public static TheoryData<string> Brokers() => [.. TestBroker.Targets];

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Paho_publish_properties_reach_a_paho_subscriber_unchanged(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("v5") + "/props";
        var (sub, _) = await PahoV5.SubscribeAsync(broker, "sub", 1, "--topic", topic, "--count", "1", "--sub-id", "42");
        await using var _sub = sub;
        await PahoV5.PublishAsync(broker,
            "--topic", topic, "--qos", "1", "--message", "{\"v\":1}",
            "--user", "z=1", "--user", "a=2", "--user", "z=3",
            "--response-topic", "replies/here", "--correlation", "00ff10",
            "--content-type", "application/json", "--payload-format", "1", "--expiry", "300");

        var m = await PahoV5.ReadMessageAsync(sub);
        Assert.Equal(topic, m.Topic);
        Assert.Equal("{\"v\":1}", m.Payload);
        Assert.Equal([("z", "1"), ("a", "2"), ("z", "3")], m.UserProperties);
        Assert.Equal("replies/here", m.ResponseTopic);
        Assert.Equal("00ff10", m.Correlation);
        Assert.Equal("application/json", m.ContentType);
        Assert.Equal(1, m.PayloadFormat);
        Assert.InRange(m.Expiry ?? -1, 295, 300);
        Assert.Equal([42], m.SubscriptionIds);
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Mosquitto_pub_properties_reach_mosquitto_sub_unchanged(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("v5") + "/mp";
        await using var sub = await Mosquitto5.SubscribeAsync(broker, topic);
        await Mosquitto5.PublishAsync(broker, topic, "hello", 1,
            "-D", "publish", "user-property", "k1", "v1",
            "-D", "publish", "user-property", "k2", "v2",
            "-D", "publish", "response-topic", "resp/t",
            "-D", "publish", "correlation-data", "corr-123",
            "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "payload-format-indicator", "1",
            "-D", "publish", "message-expiry-interval", "120");

        var f = await Mosquitto5.ReadAsync(sub);
        Assert.Equal(topic, f[0]);
        Assert.Equal("hello", f[1]);
        Assert.Equal("resp/t", f[2]);
        Assert.Equal("corr-123", f[3]);
        Assert.Equal("text/plain", f[4]);
        Assert.Equal("1", f[5]);
        Assert.InRange(int.Parse(f[6], System.Globalization.CultureInfo.InvariantCulture), 115, 120);
        Assert.Contains("k1:v1", f[7], StringComparison.Ordinal);
        Assert.Contains("k2:v2", f[7], StringComparison.Ordinal);
        Assert.True(f[7].IndexOf("k1:v1", StringComparison.Ordinal) < f[7].IndexOf("k2:v2", StringComparison.Ordinal), "user properties out of order: " + f[7]);
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Request_response_round_trip_keeps_correlation_data(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var requests = Matrix.Unique("req") + "/in";
        var replies = Matrix.Unique("rep") + "/out";
        var (responder, _) = await PahoV5.SubscribeAsync(broker, "respond", 1, "--topic", requests, "--count", "1");
        await using var _r = responder;
        await using var requester = await Mosquitto5.SubscribeAsync(broker, replies);

        await Mosquitto5.PublishAsync(broker, requests, "ping", 1,
            "-D", "publish", "response-topic", replies,
            "-D", "publish", "correlation-data", "c0ffee-42");

        var reply = await Mosquitto5.ReadAsync(requester);
        Assert.Equal(replies, reply[0]);
        Assert.Equal("re:ping", reply[1]);
        Assert.Equal("c0ffee-42", reply[3]);
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Shared_subscription_splits_messages_between_two_paho_clients(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("sh") + "/work";
        var filter = "$share/workers/" + topic;
        var (a, _) = await PahoV5.SubscribeAsync(broker, "sub", 1, "--topic", filter);
        await using var _a = a;
        var (b, _) = await PahoV5.SubscribeAsync(broker, "sub", 1, "--topic", filter);
        await using var _b = b;

        const int count = 20;
        var payloads = Enumerable.Range(1, count).Select(i => "job" + i).ToList();
        await PahoV5.PublishAsync(broker, ["--topic", topic, "--qos", "1", .. payloads.SelectMany(p => new[] { "--message", p })]);

        // Each message goes to exactly one member: read until all arrived, counting per member.
        var received = new List<string>();
        var perMember = new int[2];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (received.Count < count && DateTime.UtcNow < deadline)
        {
            foreach (var (member, index) in new[] { (a, 0), (b, 1) })
            {
                if (await member.TryReadLineAsync(TimeSpan.FromMilliseconds(100)) is { } line && line.StartsWith(Message5.Prefix, StringComparison.Ordinal))
                {
                    received.Add(Message5.Parse(line).Payload);
                    perMember[index]++;
                }
            }
        }

        Assert.Equal(payloads.Order(), received.Order());
        Assert.True(perMember[0] > 0 && perMember[1] > 0, $"one member got everything: {perMember[0]} / {perMember[1]}");
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Paho_topic_aliases_are_resolved_for_subscribers(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("alias") + "/t";
        await using var sub = await Mosquitto5.SubscribeAsync(broker, topic);
        await PahoV5.PublishAsync(broker, "--topic", topic, "--qos", "1", "--alias", "1", "--message", "one", "--message", "two", "--message", "three");
        foreach (var expected in new[] { "one", "two", "three" })
        {
            var f = await Mosquitto5.ReadAsync(sub);
            Assert.Equal((topic, expected), (f[0], f[1]));
        }
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Will_is_published_only_after_the_will_delay(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var willTopic = Matrix.Unique("wd") + "/status";
        await using var observer = await Mosquitto5.SubscribeAsync(broker, willTopic);
        var (client, _) = await PahoV5.StartAsync(broker, "will", "--id", Matrix.Unique("wd"), "--session-expiry", "60",
            "--will-topic", willTopic, "--will-message", "late", "--will-delay", "2");
        await using var _c = client;
        var watch = Stopwatch.StartNew();
        client.Kill();

        var will = await Mosquitto5.ReadAsync(observer, TimeSpan.FromSeconds(15));
        Assert.Equal("late", will[1]);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.5), $"will after {watch.Elapsed.TotalMilliseconds:0} ms, before its 2 s delay");
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Reconnecting_before_the_will_delay_suppresses_the_will(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var willTopic = Matrix.Unique("wr") + "/status";
        var id = Matrix.Unique("wr");
        await using var observer = await Mosquitto5.SubscribeAsync(broker, willTopic);
        var (client, _) = await PahoV5.StartAsync(broker, "will", "--id", id, "--clean", "0", "--session-expiry", "60",
            "--will-topic", willTopic, "--will-message", "must-not-arrive", "--will-delay", "2");
        await using (client)
        {
            client.Kill();
        }

        var (again, present) = await PahoV5.StartAsync(broker, "hold", "--id", id, "--clean", "0", "--session-expiry", "60");
        await using var _a = again;
        Assert.True(present, "the session (expiry 60 s) must still be there");

        // Real time on purpose: the same case runs against the Mosquitto process, which has no fake clock, and the
        // clients are external processes. Time passing is the condition: the 2 s delay runs out while the client is
        // connected again.
        await Task.Delay(TimeSpan.FromSeconds(3));
        await Mosquitto5.PublishAsync(broker, willTopic, "sentinel");
        Assert.Equal("sentinel", (await Mosquitto5.ReadAsync(observer))[1]);
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task Session_survives_within_its_expiry_interval_and_is_gone_after_it(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("se") + "/q";
        var id = Matrix.Unique("se");
        var (first, present) = await PahoV5.SubscribeAsync(broker, "sub", 1, "--id", id, "--clean", "0", "--session-expiry", "2", "--topic", topic);
        await using (first)
        {
            Assert.False(present);
            first.CloseStandardInput();
            Assert.Equal(0, await first.WaitForExitAsync());
        }

        await Mosquitto5.PublishAsync(broker, topic, "while-away");
        var (again, presentAgain) = await PahoV5.StartAsync(broker, "hold", "--id", id, "--clean", "0", "--session-expiry", "2");
        await using (again)
        {
            Assert.True(presentAgain, "the session must survive within its 2 s expiry interval");
            Assert.Equal("while-away", (await PahoV5.ReadMessageAsync(again)).Payload);
            again.CloseStandardInput();
            Assert.Equal(0, await again.WaitForExitAsync());
        }

        // Real time on purpose (Mosquitto, a separate process, has no fake clock): the 2 s expiry interval must run out.
        await Task.Delay(TimeSpan.FromSeconds(4));
        var (late, presentLate) = await PahoV5.StartAsync(broker, "hold", "--id", id, "--clean", "0", "--session-expiry", "0");
        await using var _l = late;
        Assert.False(presentLate, "the session must be gone after its expiry interval");
    });

    [Theory]
    [MemberData(nameof(Brokers))]
    public Task No_local_subscription_is_accepted_and_still_receives_other_clients_messages(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("nl") + "/t";
        var (sub, _) = await PahoV5.SubscribeAsync(broker, "sub", 1, "--topic", topic, "--no-local");
        await using var _s = sub;
        await Mosquitto5.PublishAsync(broker, topic, "from-another-client");
        Assert.Equal("from-another-client", (await PahoV5.ReadMessageAsync(sub)).Payload);
    });
}
