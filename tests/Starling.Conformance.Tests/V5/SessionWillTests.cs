using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>
/// MQTT 5.0 sections 3.1.2.11, 3.1.3.2, 3.14 and 4.1: session expiry (also changed on DISCONNECT), will delay, will
/// properties and DISCONNECT reason codes from the client. Where session expiry is the condition under test, the test
/// runs its own server on a fake clock and advances it; nothing is waited for without a signal.
/// </summary>
public sealed class SessionWillTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private Task<bool> ReconnectSessionPresentAsync(string id, uint expiry = 300) => ReconnectSessionPresentAsync(Server, id, expiry);

    private static async Task<bool> ReconnectSessionPresentAsync(TestServer server, string id, uint expiry = 300)
    {
        var (client, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, expiry) });
        await using (client)
        {
            Assert.Equal(0, ack.ReasonCode);
            await client.Disconnect5Async();
            return ack.SessionPresent;
        }
    }

    private async Task<RawMqttClient> SubscriberAsync(string topic)
    {
        var subscriber = await Server.Connect5Async(Names.ClientId("sub"));
        await subscriber.Subscribe5GrantedAsync(topic, 1);
        return subscriber;
    }

    private async Task PublishMarkerAsync(string topic)
    {
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "marker", 1);
    }

    [Fact]
    public async Task MQTT_3_1_2_23_SessionExpiryZeroEndsSessionWithConnection()
    {
        var id = Names.ClientId();
        await using (var client = await Server.Connect5Async(id, sessionExpiry: 0))
        {
            await client.Subscribe5GrantedAsync(Names.Topic(), 1);
            await client.Disconnect5Async();
        }

        Assert.False(await ReconnectSessionPresentAsync(id));
    }

    [Fact]
    public async Task MQTT_3_1_2_23_AbsentSessionExpiryMeansZero()
    {
        var id = Names.ClientId();
        await using (var client = await Server.Connect5Async(new Connect5 { ClientId = id, CleanStart = false }))
        {
            await client.Subscribe5GrantedAsync(Names.Topic(), 1);
            client.CloseAbruptly();
        }

        Assert.False(await ReconnectSessionPresentAsync(id));
    }

    [Fact]
    public async Task MQTT_3_1_2_23_SessionIsKeptForTheExpiryIntervalThenDiscarded()
    {
        // Own server on a fake clock: the expiry interval passes when the test advances it, not in real time.
        var clock = new FakeTimeProvider();
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = clock });
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await server.Connect5Async(id, sessionExpiry: 1))
        {
            await client.Subscribe5GrantedAsync(topic, 1);
            client.CloseAbruptly();
        }
        await WaitForNoClientsAsync(server);

        // Still there after most of the interval.
        clock.Advance(TimeSpan.FromMilliseconds(500));
        var (again, ack) = await server.ConnectRaw5Async(new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 1) });
        await using (again)
        {
            Assert.True(ack.SessionPresent, "the session must survive for its expiry interval");
            again.CloseAbruptly();
        }
        await WaitForNoClientsAsync(server);

        // [MQTT-4.1.0-2]: gone once the interval has passed (the heartbeat, a timer on the fake clock, expires it).
        clock.Advance(TimeSpan.FromSeconds(2.5));
        await Eventually.TrueAsync(() => server.Server.Broker.SessionCount == 0, "the session to expire");
        Assert.False(await ReconnectSessionPresentAsync(server, id));
    }

    /// <summary>
    /// Waits until the broker has seen every client go: a session's expiry interval starts then, so the fake clock
    /// must not be advanced before.
    /// </summary>
    private static Task WaitForNoClientsAsync(TestServer server)
        => Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the broker to see the client go");

    [Fact]
    public async Task MQTT_3_1_2_23_MaximumSessionExpiryIsKept()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = id, Properties = new Props().U32(Prop.SessionExpiryInterval, uint.MaxValue) });
        await using (client)
        {
            // 0xFFFFFFFF (never expires) is capped by Limits:MaxSessionExpirySeconds (default 7 days, issue 16 finding 3);
            // CONNACK tells the client the value the server uses (3.2.2.3.2). The session is still kept past the close.
            Assert.Equal((uint?)(7 * 24 * 3600), ack.Properties.Number(Prop.SessionExpiryInterval));
            await client.Subscribe5GrantedAsync(topic, 1);
            client.CloseAbruptly();
        }

        await PublishMarkerAsync(topic);
        await using var again = await Server.Connect5Async(id, cleanStart: false, sessionExpiry: uint.MaxValue);
        await again.ExpectPayload5Async("marker");
        await again.Disconnect5Async(0, new Props().U32(Prop.SessionExpiryInterval, 0));
    }

    [Fact]
    public async Task MQTT_3_14_2_SessionExpiryChangedToZeroOnDisconnectEndsSession()
    {
        var id = Names.ClientId();
        await using (var client = await Server.Connect5Async(id, sessionExpiry: 300))
        {
            await client.Subscribe5GrantedAsync(Names.Topic(), 1);
            await client.Disconnect5Async(0, new Props().U32(Prop.SessionExpiryInterval, 0));
        }

        Assert.False(await ReconnectSessionPresentAsync(id));
    }

    [Fact]
    public async Task MQTT_3_14_2_SessionExpiryRaisedOnDisconnectKeepsSession()
    {
        var id = Names.ClientId();
        var clock = new FakeTimeProvider();
        await using var server = await TestServer.StartAsync(new TestServerOptions { Time = clock });
        await using (var client = await server.Connect5Async(id, sessionExpiry: 1))
        {
            await client.Subscribe5GrantedAsync(Names.Topic(), 1);
            await client.Disconnect5Async(0, new Props().U32(Prop.SessionExpiryInterval, 600));
        }
        await WaitForNoClientsAsync(server);

        // Past the first interval (1 s), well within the new one (600 s); the heartbeat has run meanwhile.
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, server.Server.Broker.SessionCount);
        Assert.True(await ReconnectSessionPresentAsync(server, id));
    }

    [Fact]
    public async Task MQTT_3_14_2_NonZeroExpiryOnDisconnectAfterZeroInConnectIsProtocolError()
    {
        var id = Names.ClientId();
        await using var client = await Server.Connect5Async(id, sessionExpiry: 0);
        await client.SendAsync(Packets5.Disconnect(0, new Props().U32(Prop.SessionExpiryInterval, 60)));
        await client.ExpectDisconnect5Async(0x82);
        Assert.False(await ReconnectSessionPresentAsync(id));
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillWithoutDelayIsPublishedOnAbnormalClose()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "gone", qos: 1) });
        client.CloseAbruptly();
        var will = await subscriber.ExpectPayload5Async("gone");
        Assert.False(will.Retain, "[MQTT-3.1.2-14]");
    }

    [Fact]
    public async Task MQTT_3_1_3_10_WillPropertiesAreForwarded()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        var props = new Props()
            .Byte(Prop.PayloadFormatIndicator, 1)
            .U32(Prop.MessageExpiryInterval, 120)
            .Str(Prop.ContentType, "text/plain")
            .Str(Prop.ResponseTopic, "will/reply")
            .Bin(Prop.CorrelationData, [1, 2, 3])
            .User("b", "1").User("a", "2").User("b", "3");
        await using var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "gone", qos: 1) { Properties = props } });
        client.CloseAbruptly();

        var will = await subscriber.ExpectPayload5Async("gone");
        Assert.Equal(1u, will.Properties.Number(Prop.PayloadFormatIndicator));
        Assert.InRange(will.Properties.Number(Prop.MessageExpiryInterval) ?? 0, 118u, 120u);
        Assert.Equal("text/plain", will.Properties.Text(Prop.ContentType));
        Assert.Equal("will/reply", will.Properties.Text(Prop.ResponseTopic));
        Assert.Equal([1, 2, 3], will.Properties.Binary(Prop.CorrelationData));
        Assert.Equal([("b", "1"), ("a", "2"), ("b", "3")], will.Properties.UserProperties);
        Assert.False(will.Properties.Has(Prop.WillDelayInterval), will.ToString());
    }

    [Fact]
    public async Task MQTT_3_1_2_15_RetainedWillIsPublishedRetained()
    {
        var topic = Names.Topic("will");
        await using (var live = await Server.Connect5Async(Names.ClientId("live")))
        {
            // Retain As Published shows the RETAIN flag the will was published with.
            await live.Subscribe5GrantedAsync(new Sub(topic, 1, RetainAsPublished: true));
            await using var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "offline", qos: 1, retain: true) });
            client.CloseAbruptly();
            Assert.True((await live.ExpectPayload5Async("offline")).Retain);
        }

        await using var later = await SubscriberAsync(topic);
        Assert.True((await later.ExpectPayload5Async("offline")).Retain);
    }

    [Fact]
    public async Task MQTT_3_14_4_3_NormalDisconnectDiscardsWill()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using (var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "gone", qos: 1) }))
        {
            await client.Disconnect5Async(0x00);
        }

        await PublishMarkerAsync(topic);
        await subscriber.ExpectPayload5Async("marker");
    }

    [Fact]
    public async Task MQTT_3_14_2_DisconnectWithWillMessage0x04PublishesWill()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using (var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "asked-for", qos: 1) }))
        {
            await client.Disconnect5Async(0x04);
        }

        await subscriber.ExpectPayload5Async("asked-for");
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillIsPublishedAfterWillDelay()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        var watch = Stopwatch.StartNew();
        await using (var client = await Server.Connect5Async(new Connect5
        {
            ClientId = Names.ClientId("w"),
            Properties = new Props().U32(Prop.SessionExpiryInterval, 60),
            Will = new WillSpec5(topic, "delayed", qos: 1) { Properties = new Props().U32(Prop.WillDelayInterval, 1) },
        }))
        {
            client.CloseAbruptly();
        }

        await subscriber.ExpectPayload5Async("delayed", TimeSpan.FromSeconds(5));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"will after {watch.Elapsed.TotalMilliseconds:0} ms, before its 1 s delay");
    }

    [Fact]
    public async Task MQTT_3_1_3_9_ReconnectBeforeWillDelaySuppressesWill()
    {
        var id = Names.ClientId("w");
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        var connect = new Connect5
        {
            ClientId = id,
            CleanStart = false,
            Properties = new Props().U32(Prop.SessionExpiryInterval, 60),
            Will = new WillSpec5(topic, "must-not-arrive", qos: 1) { Properties = new Props().U32(Prop.WillDelayInterval, 1) },
        };
        await using (var client = await Server.Connect5Async(connect))
        {
            client.CloseAbruptly();
        }

        await using var again = await Server.Connect5Async(id, cleanStart: false, sessionExpiry: 60);
        // The delay (1 s) passes while the new connection is up: the will must not come.
        await subscriber.ExpectNothingAsync(TimeSpan.FromSeconds(1.8));
        await again.Disconnect5Async();
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillIsPublishedWhenSessionEndsBeforeWillDelay()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        var watch = Stopwatch.StartNew();
        await using (var client = await Server.Connect5Async(new Connect5
        {
            ClientId = Names.ClientId("w"),
            Properties = new Props().U32(Prop.SessionExpiryInterval, 1),
            Will = new WillSpec5(topic, "session-ended", qos: 1) { Properties = new Props().U32(Prop.WillDelayInterval, 3600) },
        }))
        {
            client.CloseAbruptly();
        }

        await subscriber.ExpectPayload5Async("session-ended", TimeSpan.FromSeconds(5));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task MQTT_3_1_2_8_WillIsPublishedAfterKeepAliveTimeout()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), KeepAlive = 1, Will = new WillSpec5(topic, "timed-out", qos: 1) });
        await client.ExpectDisconnect5Async(0x8D, TimeSpan.FromSeconds(5));
        await subscriber.ExpectPayload5Async("timed-out");
    }

    [Fact]
    public async Task MQTT_3_1_4_3_TakeoverPublishesWillOfOldConnection()
    {
        var id = Names.ClientId("w");
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using var first = await Server.Connect5Async(new Connect5 { ClientId = id, Will = new WillSpec5(topic, "taken-over", qos: 1) });
        await using var second = await Server.Connect5Async(id);
        await first.ExpectDisconnect5Async(0x8E);
        await subscriber.ExpectPayload5Async("taken-over");
    }

    [Fact]
    public async Task MQTT_3_1_3_9_TakeoverThatResumesTheSessionSendsNoWillEvenWithDelay0()
    {
        // The new network connection reaches the session at the instant the old one's will (delay 0) would fall due:
        // "If a new Network Connection to this Session is made before the Will Delay Interval has passed, the Server
        // MUST NOT send the Will Message" [MQTT-3.1.3-9]. With Clean Start (the session ends) the will goes out
        // (MQTT_3_1_4_3_TakeoverPublishesWillOfOldConnection).
        var id = Names.ClientId("w");
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        var resume = new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 60) };
        await using var first = await Server.Connect5Async(resume with { Will = new WillSpec5(topic, "must-not-appear", qos: 1) });
        var (second, ack) = await Server.ConnectRaw5Async(resume);
        await using (second)
        {
            Assert.True(ack.SessionPresent);
            await first.ExpectDisconnect5Async(0x8E);
            await first.ExpectClosedAsync();
            await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
            await publisher.Publish5Async(topic, "marker", 1);
            Assert.Equal("marker", (await subscriber.ExpectPublish5Async()).Text);
            await second.Disconnect5Async();
        }
    }

    [Fact]
    public async Task MQTT_4_4_0_1_UnacknowledgedDeliveriesAreResentOnResume()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        var connect = new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 60) };
        ushort firstId;
        await using (var client = await Server.Connect5Async(connect))
        {
            await client.Subscribe5GrantedAsync(topic, 2);
            await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
            await publisher.Publish5Async(topic, "q1", 1);
            await publisher.Publish5Async(topic, "q2", 2);
            firstId = (await client.ExpectPublish5Async()).PacketId;
            Assert.Equal("q2", (await client.ExpectPublish5Async()).Text);
            client.CloseAbruptly();
        }

        await using var again = await Server.Connect5Async(connect);
        var r1 = await again.ExpectPayload5Async("q1");
        Assert.True(r1.Dup);
        Assert.Equal(firstId, r1.PacketId);
        var r2 = await again.ExpectPayload5Async("q2");
        Assert.True(r2.Dup);
    }

    [Fact]
    public async Task MQTT_3_14_1_1_DisconnectWithReservedFlagsIsMalformedAndWillIsPublished()
    {
        var topic = Names.Topic("will");
        await using var subscriber = await SubscriberAsync(topic);
        await using var client = await Server.Connect5Async(new Connect5 { ClientId = Names.ClientId("w"), Will = new WillSpec5(topic, "bad-disconnect", qos: 1) });
        await client.SendAsync(new byte[] { 0xE1, 0x00 });
        var frame = await client.ReceiveAsync();
        if (frame is not null)
        {
            Assert.Equal(0x81, Disconnect5.Parse(frame).ReasonCode);
            await client.ExpectClosedAsync();
        }

        await subscriber.ExpectPayload5Async("bad-disconnect");
    }

    [Fact]
    public async Task MQTT_3_14_2_1_UnknownDisconnectReasonCodeIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Disconnect(0x05));
        var frame = await client.ReceiveAsync();
        if (frame is not null)
        {
            var disconnect = Disconnect5.Parse(frame);
            Assert.True(disconnect.ReasonCode is 0x81 or 0x82, disconnect.ToString());
            await client.ExpectClosedAsync();
        }
    }
}
