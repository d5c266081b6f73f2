using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>
/// MQTT 5.0 sections 3.4 to 3.7 and 4.3: the reason code on every acknowledgement, and Request Problem Information.
/// </summary>
public sealed class ReasonCodeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task MQTT_3_4_2_1_PubAckSuccessWithSubscriberAnd0x10WithoutOne()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        Assert.Equal(0x10, (await client.Publish5Async(topic, "nobody", 1))!.ReasonCode);
        await client.Subscribe5GrantedAsync(topic, 0);
        Assert.Equal(0x00, (await client.Publish5Async(topic, "somebody", 1))!.ReasonCode);
    }

    [Fact]
    public async Task MQTT_3_5_2_1_PubRecSuccessWithSubscriberAnd0x10WithoutOne()
    {
        var topic = Names.Topic();
        await using var client = await Server.Connect5Async(Names.ClientId());
        Assert.Equal(0x10, (await client.Publish5Async(topic, "nobody", 2))!.ReasonCode);
        await client.Subscribe5GrantedAsync(topic, 0);
        Assert.Equal(0x00, (await client.Publish5Async(topic, "somebody", 2))!.ReasonCode);
    }

    [Fact]
    public async Task MQTT_3_4_2_1_PublishToSysIsNotAuthorized()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        Assert.Equal(0x87, (await client.Publish5Async("$SYS/conformance", "nope", 1))!.ReasonCode);
    }

    [Fact]
    public async Task MQTT_3_7_2_1_PubRelForUnknownIdGetsPubComp0x92()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Ack(PacketKind.PubRel, 4321));
        var ack = await client.ExpectAck5Async(PacketKind.PubComp, 4321);
        Assert.Equal(0x92, ack.ReasonCode);
    }

    [Fact]
    public async Task MQTT_4_3_3_10_Qos2ResentBeforePubRelIsNotDeliveredTwice()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, 0);
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Publish(topic, "once", qos: 2, packetId: 9));
        await client.ExpectAck5Async(PacketKind.PubRec, 9);
        await client.SendAsync(Packets5.Publish(topic, "once", qos: 2, packetId: 9, dup: true));
        await client.ExpectAck5Async(PacketKind.PubRec, 9);
        await client.SendAsync(Packets5.Ack(PacketKind.PubRel, 9));
        Assert.Equal(0, (await client.ExpectAck5Async(PacketKind.PubComp, 9)).ReasonCode);
        await subscriber.ExpectPayload5Async("once");
        await subscriber.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_4_3_3_PubRecFailureFromSubscriberEndsTheFlow()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, 2);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "refused", 2);
        var got = await subscriber.ExpectPublish5Async();
        // [MQTT-4.3.3-4] binds the sender only for codes below 0x80: after 0x80 the server sends no PUBREL.
        await subscriber.SendAsync(Packets5.Ack(PacketKind.PubRec, got.PacketId, 0x80));
        await publisher.Publish5Async(topic, "next", 2);
        await subscriber.ExpectPayload5Async("next");
    }

    [Fact]
    public async Task MQTT_3_6_1_1_PubRelWithWrongFlagsIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(new byte[] { 0x60, 0x02, 0x00, 0x01 });
        await client.ExpectDisconnect5Async(0x81);
    }

    [Fact]
    public async Task MQTT_3_8_4_SubAckCarriesFailureCodes()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        var codes = await client.Subscribe5Async(null, new Sub("$share/x+y/z", 1), new Sub(Names.Topic(), 2));
        Assert.Equal([0x8F, 0x02], codes);
    }

    [Fact]
    public async Task MQTT_3_1_2_29_RequestProblemInformation0KeepsReasonStringsOffAcks()
    {
        var topic = Names.Topic();
        var connect = new Connect5 { ClientId = Names.ClientId(), Properties = new Props().Byte(Prop.RequestProblemInformation, 0) };
        await using var client = await Server.Connect5Async(connect);

        static void NoProblemInformation(Ack5 ack)
        {
            Assert.False(ack.Properties.Has(Prop.ReasonString), $"Reason String on {ack}");
            Assert.False(ack.Properties.Has(Prop.UserProperty), $"User Property on {ack}");
        }

        // Failure and non-zero reason codes are where a reason string would be most tempting.
        NoProblemInformation((await client.Publish5Async(topic, "nobody", 1))!);
        NoProblemInformation((await client.Publish5Async(topic, "nobody", 2))!);
        NoProblemInformation((await client.Publish5Async("$SYS/x", "denied", 1))!);
        var subId = client.NextPacketId();
        await client.SendAsync(Packets5.Subscribe(subId, new Sub("$share/a+b/c", 1)));
        NoProblemInformation(await client.ExpectAck5Async(PacketKind.SubAck, subId));
        var unsubId = client.NextPacketId();
        await client.SendAsync(Packets5.Unsubscribe(unsubId, Names.Topic("never")));
        NoProblemInformation(await client.ExpectAck5Async(PacketKind.UnsubAck, unsubId));
        await client.SendAsync(Packets5.Ack(PacketKind.PubRel, 999));
        NoProblemInformation(await client.ExpectAck5Async(PacketKind.PubComp, 999));
    }

    [Fact]
    public async Task MQTT_3_1_2_29_DisconnectMayStillCarryReasonStringWhenProblemInformationIs0()
    {
        var connect = new Connect5 { ClientId = Names.ClientId(), Properties = new Props().Byte(Prop.RequestProblemInformation, 0) };
        await using var client = await Server.Connect5Async(connect);
        await client.SendAsync(Packets5.Publish("", "no-topic"));
        // Allowed either way on DISCONNECT; only the reason code is checked.
        await client.ExpectDisconnect5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_14_2_3_NoReasonStringBeyondClientMaximumPacketSize()
    {
        var connect = new Connect5 { ClientId = Names.ClientId(), Properties = new Props().U32(Prop.MaximumPacketSize, 20) };
        await using var client = await Server.Connect5Async(connect);
        await client.SendAsync(Packets5.Publish("", "no-topic"));
        var frame = await client.ReceiveAsync();
        Assert.NotNull(frame);
        Assert.True(frame.Body.Length + 2 <= 20, $"DISCONNECT of {frame.Body.Length + 2} bytes to a client whose maximum is 20: {frame}");
        Assert.Equal(0x82, Disconnect5.Parse(frame).ReasonCode);
    }

    [Fact]
    public async Task MQTT_3_4_2_2_AcksFitClientMaximumPacketSize()
    {
        var connect = new Connect5 { ClientId = Names.ClientId(), Properties = new Props().U32(Prop.MaximumPacketSize, 16) };
        await using var client = await Server.Connect5Async(connect);
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Publish(Names.Topic(), "x", qos: 1, packetId: id));
        var frame = await client.ExpectDeferringPublishesAsync(PacketKind.PubAck);
        Assert.True(frame.Body.Length + 2 <= 16, frame.ToString());
        var sub = client.NextPacketId();
        await client.SendAsync(Packets5.Subscribe(sub, new Sub("$share/a+b/c", 1)));
        var subAck = await client.ExpectDeferringPublishesAsync(PacketKind.SubAck);
        Assert.True(subAck.Body.Length + 2 <= 16, subAck.ToString());
    }

    /// <summary>
    /// v5: an acknowledgement of the wrong type for a packet id in flight is a Protocol Error: DISCONNECT 0x82, then
    /// the close [MQTT-4.13.1-1]. Issue 16, finding 25 (before: PUBREL, or silence).
    /// </summary>
    [Theory]
    [InlineData(1, PacketKind.PubRec)]
    [InlineData(1, PacketKind.PubComp)]
    [InlineData(2, PacketKind.PubAck)]
    [InlineData(2, PacketKind.PubComp)]
    public async Task MQTT_4_13_1_1_WrongAcknowledgementTypeForInflightPacketIdGetsDisconnect0x82(int qos, PacketKind ack)
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, qos);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "m", qos);
        var delivered = await subscriber.ExpectPublish5Async();

        await subscriber.SendAsync(Packets5.Ack(ack, delivered.PacketId));
        await subscriber.ExpectDisconnect5Async(0x82);
        await Server.AssertStillServingAsync();
    }
}
