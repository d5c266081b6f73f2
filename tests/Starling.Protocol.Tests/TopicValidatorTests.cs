namespace Starling.Protocol.Tests;

public class TopicValidatorTests
{
    [Theory]
    [InlineData("a", true)]
    [InlineData("/", true)]
    [InlineData("sport/tennis/player1", true)]
    [InlineData("$SYS/broker", true)]
    [InlineData(" ", true)]
    [InlineData("a//b", true)]
    [InlineData("€/日本", true)]
    [InlineData("", false)] // [MQTT-4.7.3-1]
    [InlineData("a/+", false)] // [MQTT-3.3.2-2]
    [InlineData("a/#", false)]
    [InlineData("a+b", false)]
    [InlineData("a\0b", false)] // [MQTT-4.7.3-2]
    public void Topic_names_4_7_3(string topic, bool valid) => Assert.Equal(valid, TopicValidator.IsValidTopicName(topic));

    [Fact]
    public void Topic_name_with_unpaired_surrogate_is_invalid_MQTT_1_5_3_1()
    {
        Assert.False(TopicValidator.IsValidTopicName("a" + (char)0xD800));
        Assert.False(TopicValidator.IsValidTopicFilter((char)0xDC00 + "/#"));
    }

    [Fact]
    public void Topic_name_longer_than_65535_bytes_is_invalid_4_7_3_3()
    {
        Assert.True(TopicValidator.IsValidTopicName(new string('a', 65_535)));
        Assert.False(TopicValidator.IsValidTopicName(new string('a', 65_536)));
        Assert.False(TopicValidator.IsValidTopicName(new string('€', 21_846))); // 65,538 bytes
    }

    [Theory]
    [InlineData("#", true)]
    [InlineData("+", true)]
    [InlineData("sport/#", true)]
    [InlineData("sport/tennis/#", true)]
    [InlineData("+/tennis/#", true)]
    [InlineData("sport/+/player1", true)]
    [InlineData("+/+", true)]
    [InlineData("/+", true)]
    [InlineData("a//b", true)]
    [InlineData("$SYS/#", true)]
    [InlineData("", false)] // [MQTT-4.7.3-1]
    [InlineData("sport/tennis#", false)] // [MQTT-4.7.1-2]
    [InlineData("sport/tennis/#/ranking", false)]
    [InlineData("#/a", false)]
    [InlineData("##", false)]
    [InlineData("sport+", false)] // [MQTT-4.7.1-3]
    [InlineData("+sport", false)]
    [InlineData("sport/+a/b", false)]
    [InlineData("++", false)]
    [InlineData("a/\0", false)]
    public void Topic_filters_4_7_1(string filter, bool valid) => Assert.Equal(valid, TopicValidator.IsValidTopicFilter(filter));

    [Theory]
    [InlineData("$share/group/sport/#", true, "group", "sport/#")]
    [InlineData("$share/g/+", true, "g", "+")]
    [InlineData("$share/g//", true, "g", "/")]
    [InlineData("$share/group", false, "", "")] // [MQTT-4.8.2-2] no filter
    [InlineData("$share/group/", false, "", "")]
    [InlineData("$share//a", false, "", "")] // [MQTT-4.8.2-1] empty share name
    [InlineData("$share/gr+p/a", false, "", "")] // [MQTT-4.8.2-2]
    [InlineData("$share/gr#p/a", false, "", "")]
    [InlineData("$share/g/a#", false, "", "")]
    [InlineData("$SHARE/g/a", false, "", "")]
    [InlineData("sport/#", false, "", "")]
    [InlineData("$share", false, "", "")]
    public void Shared_subscriptions_4_8_2(string filter, bool shared, string name, string inner)
    {
        Assert.Equal(shared, TopicValidator.IsSharedSubscription(filter, out var shareName, out var innerFilter));
        Assert.Equal(name, shareName);
        Assert.Equal(inner, innerFilter);
    }

    [Fact]
    public void HasWildcards_detects_plus_and_hash()
    {
        Assert.True(TopicValidator.HasWildcards("a/+"));
        Assert.True(TopicValidator.HasWildcards("#"));
        Assert.False(TopicValidator.HasWildcards("a/b"));
    }
}
