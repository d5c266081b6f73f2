namespace Starling.Protocol.Tests;

/// <summary>
/// <see cref="TopicFilter"/>, the one topic matcher (retained lookup, ACL rules, JWT permissions all call it). Cases are
/// grouped by the normative statement they check; the spec's own examples (4.7.1.2, 4.7.1.3, 4.7.2) come first in
/// each group.
/// </summary>
public class TopicFilterTests
{
    [Theory]
    // 4.7.1.2 examples: "sport/tennis/player1/#" and "sport/#".
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1")]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/ranking")]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon")]
    [InlineData("sport/#", "sport")]
    [InlineData("#", "sport/tennis")]
    [InlineData("#", "/")]
    [InlineData("a/#", "a/")]
    [InlineData("+/tennis/#", "sport/tennis")]
    public void MQTT_4_7_1_2_multi_level_wildcard_matches_the_parent_and_any_number_of_child_levels(string filter, string topic)
        => Assert.True(TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player2")]
    [InlineData("sport/#", "sports")]
    [InlineData("a/#", "ab")]
    [InlineData("a/b/#", "a")]
    public void MQTT_4_7_1_2_multi_level_wildcard_does_not_match_outside_its_parent(string filter, string topic)
        => Assert.False(TopicFilter.Matches(filter, topic));

    [Theory]
    // 4.7.1.3 examples.
    [InlineData("sport/tennis/+", "sport/tennis/player1", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player2", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player1/ranking", false)]
    [InlineData("sport/+", "sport", false)]
    [InlineData("sport/+", "sport/", true)]
    [InlineData("+/+", "/finance", true)]
    [InlineData("/+", "/finance", true)]
    [InlineData("+", "/finance", false)]
    // More: '+' matches exactly one level, which may be empty.
    [InlineData("+", "finance", true)]
    [InlineData("+/+/+", "a//c", true)]
    [InlineData("a/+/c", "a//c", true)]
    [InlineData("a/+", "a/$x", true)] // '$' is special only at the start of the topic
    [InlineData("a/+/c", "a/b/c/d", false)]
    public void MQTT_4_7_1_3_single_level_wildcard_matches_exactly_one_level(string filter, string topic, bool matches)
        => Assert.Equal(matches, TopicFilter.Matches(filter, topic));

    [Theory]
    // 4.7.2 examples.
    [InlineData("#", "$SYS/broker", false)]
    [InlineData("+/monitor/Clients", "$SYS/monitor/Clients", false)]
    [InlineData("$SYS/#", "$SYS/monitor/Clients", true)]
    [InlineData("$SYS/monitor/+", "$SYS/monitor/Clients", true)]
    [InlineData("+", "$SYS", false)]
    [InlineData("#", "$share", false)]
    [InlineData("a/$x", "a/$x", true)]
    public void MQTT_4_7_2_1_wildcard_at_the_start_does_not_match_a_topic_starting_with_dollar(string filter, string topic, bool matches)
        => Assert.Equal(matches, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "A/b", false)] // case-sensitive
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("a/b/", "a/b", false)] // a trailing '/' is one more (empty) level
    [InlineData("€/日本", "€/日本", true)]
    [InlineData("a b", "a  b", false)] // no normalization of spaces either
    public void MQTT_4_7_3_4_matching_compares_levels_exactly_without_normalization(string filter, string topic, bool matches)
        => Assert.Equal(matches, TopicFilter.Matches(filter, topic));

    [Theory]
    [InlineData("", "a")]
    [InlineData("#", "")]
    [InlineData("", "")]
    public void MQTT_4_7_3_1_empty_filters_and_topics_match_nothing(string filter, string topic)
        => Assert.False(TopicFilter.Matches(filter, topic));

    [Fact]
    public void Matching_does_not_allocate()
    {
        var hits = 0;
        Assert.Equal(0, AllocationMeter.MinBytes(() =>
        {
            hits += TopicFilter.Matches("sport/+/player/#", "sport/tennis/player/score/1") ? 1 : 0;
            hits += TopicFilter.Matches("a/b/c/d", "a/b/c/e") ? 1 : 0;
        }));
        Assert.True(hits >= 1_200); // one hit per call: the first pair matches, the second does not
    }

    [Theory]
    [InlineData("#", "a/b/#", true)]
    [InlineData("a/#", "a", true)] // "a/#" also matches the parent "a"
    [InlineData("a/#", "a/+/c", true)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/+", true)]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/+", false)] // '+' subscribes to more than "a/b"
    [InlineData("a/+", "a/#", false)] // '#' reaches deeper than '+'
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b", "a/c", false)]
    public void Covers_holds_when_every_topic_of_the_inner_filter_matches_the_outer(string outer, string inner, bool covers)
        => Assert.Equal(covers, TopicFilter.Covers(outer, inner));

    [Theory]
    [InlineData("a", 1)]
    [InlineData("a/b/c", 3)]
    [InlineData("/", 2)]
    [InlineData("a/", 2)]
    [InlineData("//", 3)]
    public void Levels_counts_slash_separated_levels_including_empty_ones(string topic, int levels)
        => Assert.Equal(levels, TopicFilter.Levels(topic));
}
