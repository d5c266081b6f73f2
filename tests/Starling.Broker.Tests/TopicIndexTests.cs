using Microsoft.Extensions.Logging.Abstractions;
using Starling.Protocol;

namespace Starling.Broker.Tests;

public class TopicIndexTests
{
    private static readonly SessionServices s_services = new(
        new BrokerOptions(), new BrokerCounters(), TimeProvider.System, new Storage.BrokerStorage(null, TimeProvider.System, NullLogger.Instance));

    private static Session NewSession(string clientId) => new(clientId, s_services);

    private readonly TopicIndex _index = new();

    private Subscription Subscribe(string clientId, string filter, QualityOfService qos = QualityOfService.AtMostOnce)
    {
        var s = new Subscription(NewSession(clientId), filter, filter, new SubscriptionOptions(qos), 0, null);
        _index.Add(s);
        return s;
    }

    private List<string> Match(string topic)
    {
        var plain = new List<Subscription>();
        _index.Match(topic, plain, []);
        return [.. plain.Select(s => s.Filter).Order(StringComparer.Ordinal)];
    }

    [Theory]
    [InlineData("sport/tennis/player1", "sport/tennis/player1", true)]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1", true)] // '#' includes the parent level [MQTT-4.7.1-2]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/ranking/wimbledon", true)]
    [InlineData("sport/#", "sport", true)]
    [InlineData("#", "a/b/c", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player1", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player1/ranking", false)]
    [InlineData("sport/+", "sport", false)]
    [InlineData("sport/+", "sport/", true)] // '+' matches an empty level
    [InlineData("+/+", "/finance", true)]
    [InlineData("/+", "/finance", true)]
    [InlineData("+", "/finance", false)]
    [InlineData("#", "$SYS/broker/uptime", false)] // [MQTT-4.7.2-1]
    [InlineData("+/monitor/Clients", "$SYS/monitor/Clients", false)] // [MQTT-4.7.2-1]
    [InlineData("$SYS/#", "$SYS/monitor/Clients", true)]
    [InlineData("$SYS/monitor/+", "$SYS/monitor/Clients", true)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("A/b", "a/b", false)] // case-sensitive [MQTT-4.7.3-?]
    public void Matches_like_the_standard_section_4_7(string filter, string topic, bool expected)
    {
        Subscribe("c1", filter);
        Assert.Equal(expected, Match(topic).Count == 1);
    }

    [Fact]
    public void Every_matching_filter_is_returned_once()
    {
        Subscribe("c1", "a/b/c");
        Subscribe("c2", "a/+/c");
        Subscribe("c3", "a/#");
        Subscribe("c4", "#");
        Subscribe("c5", "+/+/+");
        Subscribe("c6", "a/b");
        Assert.Equal(["#", "+/+/+", "a/#", "a/+/c", "a/b/c"], Match("a/b/c"));
    }

    [Fact]
    public void Same_session_and_filter_replaces_instead_of_duplicating_MQTT_3_8_4_3()
    {
        var session = NewSession("c1");
        var first = new Subscription(session, "a/+", "a/+", new SubscriptionOptions(QualityOfService.AtMostOnce), 0, null);
        var second = new Subscription(session, "a/+", "a/+", new SubscriptionOptions(QualityOfService.ExactlyOnce), 0, null);
        Assert.False(_index.Add(first));
        Assert.True(_index.Add(second));
        var plain = new List<Subscription>();
        _index.Match("a/x", plain, []);
        Assert.Same(second, Assert.Single(plain));
        Assert.Equal(1, _index.Count);
        // The replaced object is no longer in the index, so removing it changes nothing.
        Assert.False(_index.Remove(first));
        Assert.True(_index.Remove(second));
        Assert.Empty(Match("a/x"));
        Assert.Equal(0, _index.Count);
    }

    [Fact]
    public void Removing_the_last_wildcard_filter_prunes_the_trie()
    {
        var a = Subscribe("c1", "x/+/y/#");
        var b = Subscribe("c2", "x/+/z");
        Assert.True(_index.Remove(a));
        Assert.Equal(["x/+/z"], Match("x/1/z"));
        Assert.Empty(Match("x/1/y/2"));
        Assert.True(_index.Remove(b));
        Assert.Empty(Match("x/1/z"));
        // Re-adding after pruning works.
        Subscribe("c3", "x/+/y/#");
        Assert.Equal(["x/+/y/#"], Match("x/1/y"));
    }

    [Fact]
    public void A_node_that_lost_its_last_named_child_and_gets_one_again_still_matches()
    {
        // Child maps exist only while a node has children: dropping and re-creating one must not lose a sibling level.
        var a = Subscribe("c1", "dev/a/#");
        var keep = Subscribe("c2", "dev/+");
        Assert.True(_index.Remove(a));
        Assert.Empty(Match("dev/a/t"));
        Assert.Equal(["dev/+"], Match("dev/a"));
        Subscribe("c3", "dev/b/#");
        var c = Subscribe("c4", "dev/c/+/x");
        Assert.Equal(["dev/b/#"], Match("dev/b/t"));
        Assert.Equal(["dev/+", "dev/b/#"], Match("dev/b"));
        Assert.Equal(["dev/c/+/x"], Match("dev/c/1/x"));
        // Removing one of two named children keeps the map, and the other child in it.
        Assert.True(_index.Remove(c));
        Assert.Empty(Match("dev/c/1/x"));
        Assert.Equal(["dev/b/#"], Match("dev/b/t"));
        Assert.True(_index.Remove(keep));
        Assert.Equal(["dev/b/#"], Match("dev/b"));
    }

    [Fact]
    public void Shared_groups_are_returned_as_groups_not_members()
    {
        var s1 = new Subscription(NewSession("m1"), "$share/g/t/#", "t/#", new SubscriptionOptions(QualityOfService.AtLeastOnce), 0, "g");
        var s2 = new Subscription(NewSession("m2"), "$share/g/t/#", "t/#", new SubscriptionOptions(QualityOfService.AtLeastOnce), 0, "g");
        _index.Add(s1);
        _index.Add(s2);
        var plain = new List<Subscription>();
        var groups = new List<SharedGroup>();
        _index.Match("t/1", plain, groups);
        Assert.Empty(plain);
        var group = Assert.Single(groups);
        Assert.Equal(2, group.Members.Length);
        Assert.True(_index.Remove(s1));
        groups.Clear();
        _index.Match("t/1", plain, groups);
        Assert.Same(s2, Assert.Single(Assert.Single(groups).Members));
    }

    [Fact]
    public void Matching_allocates_nothing_in_steady_state()
    {
        Subscribe("c1", "bench/+/x");
        Subscribe("c2", "bench/1/x");
        var plain = new List<Subscription>(8);
        var groups = new List<SharedGroup>(8);
        for (var i = 0; i < 100; i++)
        {
            plain.Clear();
            _index.Match("bench/1/x", plain, groups);
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            plain.Clear();
            _index.Match("bench/1/x", plain, groups);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2, plain.Count);
    }
}
