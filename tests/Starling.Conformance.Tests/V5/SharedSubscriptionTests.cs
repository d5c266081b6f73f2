using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>MQTT 5.0 section 4.8.2: shared subscriptions.</summary>
public sealed class SharedSubscriptionTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<RawMqttClient> MemberAsync(string filter, int qos = 1, string prefix = "m")
    {
        var client = await Server.Connect5Async(Names.ClientId(prefix));
        await client.Subscribe5GrantedAsync(filter, qos);
        return client;
    }

    [Fact]
    public async Task MQTT_4_8_2_EachMessageGoesToOneMemberOfTheGroup()
    {
        var topic = Names.Topic();
        var group = "g" + Guid.NewGuid().ToString("N")[..8];
        await using var a = await MemberAsync($"$share/{group}/{topic}");
        await using var b = await MemberAsync($"$share/{group}/{topic}");
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        const int count = 10;
        for (var i = 0; i < count; i++)
        {
            await publisher.Publish5Async(topic, "s" + i, 1);
        }

        var seen = new List<string>();
        var perMember = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0 };
        // Round-robin: each member gets half; read each member's share, then check nothing more arrives.
        for (var i = 0; i < count / 2; i++)
        {
            var fromA = await a.ExpectPublish5Async();
            await a.Acknowledge5Async(fromA);
            seen.Add(fromA.Text);
            perMember["a"]++;
            var fromB = await b.ExpectPublish5Async();
            await b.Acknowledge5Async(fromB);
            seen.Add(fromB.Text);
            perMember["b"]++;
        }

        await a.ExpectNothingAsync();
        await b.ExpectNothingAsync();
        Assert.Equal(Enumerable.Range(0, count).Select(i => "s" + i).Order(), seen.Order());
    }

    [Fact]
    public async Task MQTT_4_8_2_EveryGroupAndPlainSubscriberGetsACopy()
    {
        var topic = Names.Topic();
        await using var g1 = await MemberAsync($"$share/one/{topic}");
        await using var g2 = await MemberAsync($"$share/two/{topic}");
        await using var plain = await MemberAsync(topic);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "fan-out", 1);
        await g1.ExpectPayload5Async("fan-out");
        await g2.ExpectPayload5Async("fan-out");
        await plain.ExpectPayload5Async("fan-out");
    }

    [Fact]
    public async Task MQTT_4_8_2_SharedSubscriptionWithWildcardFilterMatches()
    {
        var parent = Names.Topic();
        var topic = parent + "/leaf";
        await using var member = await MemberAsync($"$share/w/{parent}/+");
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "wild", 1);
        var got = await member.ExpectPayload5Async("wild");
        Assert.Equal(topic, got.Topic);
    }

    [Fact]
    public async Task MQTT_4_8_2_RetainedMessagesAreNotSentToSharedSubscriptions()
    {
        var topic = Names.Topic();
        await using (var publisher = await Server.Connect5Async(Names.ClientId("pub")))
        {
            await publisher.Publish5Async(topic, "retained", 1, retain: true);
        }

        await using var member = await MemberAsync($"$share/r/{topic}");
        await using var other = await Server.Connect5Async(Names.ClientId("pub"));
        await other.Publish5Async(topic, "live", 1);
        await member.ExpectPayload5Async("live");
    }

    [Theory]
    [InlineData("$share//x")]
    [InlineData("$share/a+b/x")]
    [InlineData("$share/a#/x")]
    [InlineData("$share/g")]
    [InlineData("$share/g/")]
    public async Task MQTT_4_8_2_1_MQTT_4_8_2_2_InvalidShareNameIsRefusedWith0x8F(string filter)
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        var codes = await client.Subscribe5Async(null, new Sub(filter, 1));
        Assert.Equal([0x8F], codes);
        await client.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_8_3_4_NoLocalOnSharedSubscriptionIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Subscribe(1, new Sub($"$share/nl/{Names.Topic()}", 1, NoLocal: true)));
        await client.ExpectDisconnect5Async(0x82);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_8_2_3_GrantedQosOfTheMemberIsRespected()
    {
        var topic = Names.Topic();
        await using var member = await MemberAsync($"$share/q/{topic}", qos: 0);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "at-qos0", 2);
        Assert.Equal(0, (await member.ExpectPublish5Async()).Qos);
    }

    [Fact]
    public async Task MQTT_4_8_2_UnsubscribeFromSharedSubscription()
    {
        var topic = Names.Topic();
        var filter = $"$share/u/{topic}";
        await using var member = await MemberAsync(filter);
        var id = member.NextPacketId();
        await member.SendAsync(Packets5.Unsubscribe(id, filter));
        Assert.Equal([0x00], (await member.ExpectAck5Async(PacketKind.UnsubAck, id)).ReasonCodes);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        var ack = await publisher.Publish5Async(topic, "nobody", 1);
        Assert.Equal(0x10, ack!.ReasonCode);
    }

    [Fact]
    public async Task Starling_UnacknowledgedMessageOfALeavingMemberGoesToAnotherMember()
    {
        // 4.8.2 allows, and Starling chooses, to re-send a QoS 1 message to another member when the chosen member's
        // session ends before acknowledging it.
        var topic = Names.Topic();
        var filter = $"$share/redis/{topic}";
        var leaving = await MemberAsync(filter, prefix: "leave");
        await using var staying = await MemberAsync(filter, prefix: "stay");
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "first", 1);
        await publisher.Publish5Async(topic, "second", 1);

        // One of them went to each member; the leaving member does not acknowledge.
        var unacked = await leaving.ExpectPublish5Async();
        var other = await staying.ExpectPublish5Async();
        await staying.Acknowledge5Async(other);
        leaving.CloseAbruptly();
        await leaving.DisposeAsync();

        var redistributed = await staying.ExpectPayload5Async(unacked.Text);
        Assert.Equal(topic, redistributed.Topic);
    }

    [Fact]
    public async Task MQTT_4_8_2_6_RefusedMessageIsNotSentToAnotherMember()
    {
        var topic = Names.Topic();
        var filter = $"$share/refuse/{topic}";
        await using var a = await MemberAsync(filter);
        await using var b = await MemberAsync(filter);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "refused", 1);

        // Whichever member got it refuses it (PUBACK 0x80); the other must not get it.
        var (receiver, bystander) = await FirstToReceiveAsync(a, b);
        var got = await receiver.ExpectPublish5Async();
        Assert.Equal("refused", got.Text);
        await receiver.SendAsync(Packets5.Ack(PacketKind.PubAck, got.PacketId, 0x80));
        await receiver.PingAsync();
        await bystander.ExpectNothingAsync();
    }

    /// <summary>Waits until one of two members has a packet (without consuming it from the other).</summary>
    private static async Task<(RawMqttClient Receiver, RawMqttClient Other)> FirstToReceiveAsync(RawMqttClient a, RawMqttClient b)
    {
        var deadline = DateTime.UtcNow + RawMqttClient.DefaultTimeout;
        while (DateTime.UtcNow < deadline)
        {
            var frame = await a.TryReceiveAsync(TimeSpan.FromMilliseconds(50));
            if (frame is not null)
            {
                a.Requeue(frame);
                return (a, b);
            }

            frame = await b.TryReceiveAsync(TimeSpan.FromMilliseconds(50));
            if (frame is not null)
            {
                b.Requeue(frame);
                return (b, a);
            }
        }

        Assert.Fail("neither member received the message");
        throw new InvalidOperationException();
    }
}
