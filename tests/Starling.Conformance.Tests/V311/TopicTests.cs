using System.Text;
using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 section 4.7: topic names, topic filters and matching.</summary>
public sealed class TopicTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    /// <summary>
    /// Subscribes one client to <paramref name="filter"/>, publishes each topic (payload = topic) and then a marker on
    /// <paramref name="markerTopic"/> (which the filter must match), and returns the topics delivered before the marker.
    /// </summary>
    private async Task<List<string>> DeliveredAsync(string filter, string markerTopic, params string[] topics)
    {
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((filter, 1));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        foreach (var topic in topics)
        {
            await publisher.PublishAsync(topic, topic, qos: 1);
        }

        await publisher.PublishAsync(markerTopic, "marker", qos: 1);
        var delivered = new List<string>();
        while (true)
        {
            var publish = await subscriber.ReceiveAndAckAsync();
            if (publish.Text == "marker")
            {
                return delivered;
            }

            Assert.Equal(publish.Topic, publish.Text);
            delivered.Add(publish.Topic);
        }
    }

    [Theory]
    [InlineData("/#/x")]
    [InlineData("a#")]
    [InlineData("/a/b#")]
    [InlineData("/#/")]
    [InlineData("/##")]
    public async Task MQTT_4_7_1_2_MultiLevelWildcardMustBeLastAndAlone(string suffix)
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        Assert.Equal([0x80], await client.SubscribeAsync((root + suffix, 1)));
        await client.PingAsync();
    }

    [Theory]
    [InlineData("/a+")]
    [InlineData("/+a")]
    [InlineData("/a+/b")]
    [InlineData("/++")]
    [InlineData("/+#")]
    public async Task MQTT_4_7_1_3_SingleLevelWildcardMustFillItsLevel(string suffix)
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        Assert.Equal([0x80], await client.SubscribeAsync((root + suffix, 1)));
        await client.PingAsync();
    }

    [Fact]
    public async Task MQTT_4_7_1_2_MultiLevelWildcardMatchesParentAndAllChildren()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/p/#", root + "/p/z",
            root + "/p", root + "/p/x", root + "/p/x/y", root + "/p/", root + "/px", root + "/q/p");
        Assert.Equal([root + "/p", root + "/p/x", root + "/p/x/y", root + "/p/"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_1_3_SingleLevelWildcardMatchesExactlyOneLevel()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/p/+", root + "/p/z",
            root + "/p", root + "/p/x", root + "/p/x/y", root + "/p/", root + "/q/x");
        Assert.Equal([root + "/p/x", root + "/p/"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_1_3_SingleLevelWildcardInTheMiddleAndEmptyLevels()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/+/+/end", root + "/m/m/end",
            root + "/a/b/end", root + "//b/end", root + "///end", root + "/a/end", root + "/a/b/c/end");
        Assert.Equal([root + "/a/b/end", root + "//b/end", root + "///end"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_1_1_WildcardsCombined()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/+/x/#", root + "/m/x",
            root + "/a/x", root + "/a/x/b/c", root + "/a/y/x", root + "/x");
        Assert.Equal([root + "/a/x", root + "/a/x/b/c"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_2_1_DollarTopicsAreNotMatchedByLeadingWildcards()
    {
        // Own server: "#" and "+/..." would otherwise see other tests' traffic.
        await using var server = await TestServer.StartAsync();
        var leaf = Guid.NewGuid().ToString("N");
        var dollarTopic = "$conf/" + leaf;

        await using var hash = await server.ConnectAsync(Names.ClientId("hash"));
        await hash.SubscribeGrantedAsync(("#", 1));
        await using var plus = await server.ConnectAsync(Names.ClientId("plus"));
        await plus.SubscribeGrantedAsync(("+/" + leaf, 1), ("+/+", 1));
        await using var exact = await server.ConnectAsync(Names.ClientId("exact"));
        await exact.SubscribeGrantedAsync((dollarTopic, 1));

        await using var publisher = await server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(dollarTopic, "dollar", qos: 1);
        await publisher.PublishAsync("conf/" + leaf, "marker", qos: 1);

        await hash.ExpectPayloadAsync("marker");
        var viaPlus = await plus.ExpectPayloadAsync("marker");
        Assert.Equal("conf/" + leaf, viaPlus.Topic);
        // A filter that starts with "$" itself still matches the topic.
        Assert.Equal(dollarTopic, (await exact.ExpectPayloadAsync("dollar")).Topic);
    }

    [Fact]
    public async Task MQTT_4_7_2_1_DollarInLaterLevelIsOrdinary()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/+/x", root + "/m/x", root + "/$a/x");
        Assert.Equal([root + "/$a/x"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_3_1_EmptyTopicNameClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Publish("", "nameless", qos: 1, packetId: 1));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_7_3_1_EmptyTopicFilterIsRefused()
    {
        var root = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        Assert.Equal([0x80, 1], await client.SubscribeAsync(("", 1), (root, 1)));
    }

    [Fact]
    public async Task MQTT_4_7_3_3_LongTopicNamesWork()
    {
        var root = Names.Topic();
        var topic = root + "/" + string.Join('/', Enumerable.Repeat(new string('t', 100), 300));
        Assert.True(Encoding.UTF8.GetByteCount(topic) < 65535);
        var delivered = await DeliveredAsync(root + "/#", root + "/m", topic);
        Assert.Equal([topic], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_3_4_TopicsAreCaseSensitive()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/Case/+", root + "/Case/z",
            root + "/case/a", root + "/CASE/a", root + "/Case/a");
        Assert.Equal([root + "/Case/a"], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_3_4_UnicodeIsNotNormalized()
    {
        var root = Names.Topic();
        var composed = root + "/caf\u00e9";   // é as one code point
        var decomposed = root + "/cafe\u0301"; // e + combining acute accent
        var delivered = await DeliveredAsync(composed, composed, decomposed, composed);
        Assert.Equal([composed], delivered);
    }

    [Fact]
    public async Task MQTT_4_7_3_4_SpacesAndSlashesAreSignificant()
    {
        var root = Names.Topic();
        var delivered = await DeliveredAsync(root + "/a b/c", root + "/a b/c",
            root + "/ab/c", root + "/a  b/c", root + "/a b/c/", root + "//a b/c", root + "/a b/c");
        Assert.Equal([root + "/a b/c"], delivered);
    }
}
