using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests;

/// <summary>Topic filters with <c>+</c> and <c>#</c>, and topics starting with <c>$</c> (MQTT 3.1.1 section 4.7).</summary>
public sealed class WildcardTests
{
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Plus_and_hash_filters_match_as_the_standard_says(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var p = Matrix.Unique("wc");
        var end = p + "-end";

        // Each subscriber also listens on the end topic, which no test filter matches: its arrival closes the list.
        string[] filters = [$"{p}/+/temp", $"{p}/#", $"{p}/+", $"+/a/temp", $"{p}/a/#"];
        var subscribers = new List<Subscriber>();
        try
        {
            foreach (var f in filters)
            {
                subscribers.Add(await MosquittoClients.SubscribeAsync(broker, version, [f, end], qos: 1));
            }

            string[] topics = [$"{p}/a/temp", $"{p}/b/temp", $"{p}/a/b/temp", $"{p}/a", $"{p}", $"{p}/a/temp/x", $"{p}/", $"{p}/a/"];
            foreach (var t in topics)
            {
                await MosquittoClients.PublishAsync(broker, version, t, "m", qos: 1);
            }

            await MosquittoClients.PublishAsync(broker, version, end, "end", qos: 1);

            var expected = new Dictionary<string, string[]>
            {
                [$"{p}/+/temp"] = [$"{p}/a/temp", $"{p}/b/temp"],
                [$"{p}/#"] = [$"{p}/a/temp", $"{p}/b/temp", $"{p}/a/b/temp", $"{p}/a", $"{p}", $"{p}/a/temp/x", $"{p}/", $"{p}/a/"],
                [$"{p}/+"] = [$"{p}/a", $"{p}/"],
                [$"+/a/temp"] = [$"{p}/a/temp"],
                [$"{p}/a/#"] = [$"{p}/a/temp", $"{p}/a/b/temp", $"{p}/a", $"{p}/a/temp/x", $"{p}/a/"],
            };
            for (var i = 0; i < filters.Length; i++)
            {
                var got = new List<string>();
                while (true)
                {
                    var m = await subscribers[i].ReadMessageAsync();
                    if (m.Topic == end)
                    {
                        break;
                    }

                    got.Add(m.Topic);
                }

                Assert.True(expected[filters[i]].SequenceEqual(got),
                    $"filter '{filters[i]}': expected [{string.Join(", ", expected[filters[i]])}], got [{string.Join(", ", got)}]");
            }
        }
        finally
        {
            foreach (var s in subscribers)
            {
                await s.DisposeAsync();
            }
        }
    });

    /// <summary>
    /// MQTT-4.7.2-1: filters starting with a wildcard must not match topics starting with '$'. A client publishes to a
    /// '$' topic; '#' and '+/...' subscribers must not see it, an explicit '$...' subscriber must.
    /// </summary>
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Dollar_topics_are_not_matched_by_filters_starting_with_a_wildcard(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var p = Matrix.Unique("d");
        var dollarTopic = $"$interop/{p}/x";
        var sentinelTopic = $"interop/{p}/x";

        await using var hash = await MosquittoClients.SubscribeAsync(broker, version, ["#"], qos: 1);
        await using var plus = await MosquittoClients.SubscribeAsync(broker, version, [$"+/{p}/x"], qos: 1);
        await using var explicitDollar = await MosquittoClients.SubscribeAsync(broker, version, ["$interop/#"], qos: 1, count: 1);

        await MosquittoClients.PublishAsync(broker, version, dollarTopic, "dollar", qos: 1);
        Assert.Equal(new ReceivedMessage(false, 1, dollarTopic, "dollar"), await explicitDollar.ReadMessageAsync());

        await MosquittoClients.PublishAsync(broker, version, sentinelTopic, "sentinel", qos: 1);
        Assert.Equal(new ReceivedMessage(false, 1, sentinelTopic, "sentinel"), await hash.ReadMessageAsync());
        Assert.Equal(new ReceivedMessage(false, 1, sentinelTopic, "sentinel"), await plus.ReadMessageAsync());
    });
}
