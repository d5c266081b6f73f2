using Starling.Protocol;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Byte limits count a message's properties, not only its payload (security review of issue 16, findings 3 and 9):
/// a 1-byte payload with megabytes of user properties got around Limits:MaxRetainedBytes and Limits:MaxQueuedBytes,
/// and the decoder materialised any amount of user properties. Each test drives the real broker over a socket.
/// </summary>
public sealed class PropertyBytesTests
{
    private static Task<TestServer> StartAsync(params (string Key, string Value)[] settings)
        => TestServer.StartAsync(settings.ToDictionary(s => s.Key, s => (string?)s.Value));

    /// <summary>User properties of about <paramref name="bytes"/> bytes on the wire (values of 1,000 characters).</summary>
    private static Props UserPropertiesOf(int bytes)
    {
        var props = new Props();
        for (var i = 0; i * 1000 < bytes; i++)
        {
            props.User("k" + i, new string('v', 1000));
        }
        return props;
    }

    [Fact]
    public async Task Retained_PUBLISH_whose_user_properties_pass_MaxRetainedBytes_is_refused_with_0x97_section_3_4_2_1()
    {
        // Before: topic + payload only were counted: a 1-byte payload with 8 KB of user properties was stored under a
        // 4,096-byte limit (PUBACK 0x10) and RetainedBytes said ~10 bytes. Now the properties count: PUBACK 0x97.
        await using var server = await StartAsync(("Limits:MaxRetainedBytes", "4096"));
        var topic = Names.Topic("props");
        await using var publisher = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("p"), version: 5);
        var refused = await publisher.Publish5Async(topic, "x", qos: 1, properties: UserPropertiesOf(8000), retain: true);
        Assert.Equal(0x97, refused!.ReasonCode);
        Assert.Equal(0, server.Server.Broker.RetainedBytes);
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.RetainedRefused));

        // Properties that fit are stored and counted with the message.
        var kept = await publisher.Publish5Async(topic, "x", qos: 1, properties: UserPropertiesOf(2000), retain: true);
        Assert.Equal(0x10, kept!.ReasonCode);
        Assert.True(server.Server.Broker.RetainedBytes > 2000, $"retained bytes {server.Server.Broker.RetainedBytes} count the properties");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Queued_bytes_of_an_offline_session_count_the_messages_properties(bool durable)
    {
        // Before: 10 messages of 1-byte payload and ~10 KB of user properties were all queued under a 40,000-byte
        // MaxQueuedBytes (payload only: 10 bytes counted). Now each counts ~10 KB: 3 are queued, 7 dropped as queue_full.
        // Durable: the same with the SQLite store (the durable queue and its journal).
        using var dir = new TempDir();
        var limits = new Dictionary<string, string?> { ["Limits:MaxQueuedBytes"] = "40000" };
        await using var server = durable
            ? await TestServer.StartWithStoreAsync(Directory.CreateDirectory(Path.Combine(dir.Path, "data")).FullName, limits)
            : await TestServer.StartAsync(limits);
        var topic = Names.Topic("queued");
        var subscriber = Names.ClientId("slow");
        await using (var sub = await RawMqttClient.ConnectSessionAsync(server.Endpoint, subscriber, cleanSession: false))
        {
            Assert.Equal([ReasonCode.GrantedQoS1], await sub.SubscribeAllAsync((topic, QualityOfService.AtLeastOnce)));
            await sub.DisconnectAsync();
        }
        await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the subscriber is offline");
        await using var pub = await RawMqttClient.ConnectOkAsync(server.Endpoint, Names.ClientId("pub"), version: 5);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(0x00, (await pub.Publish5Async(topic, "x", qos: 1, properties: UserPropertiesOf(10_000)))!.ReasonCode);
        }
        var session = server.Server.Broker.GetSessions().Single(s => s.ClientId == subscriber);
        Assert.Equal(3, session.QueuedCount);
        Assert.Equal(7, Interlocked.Read(ref server.Server.Broker.Counters.MessagesDroppedQueueFull));
    }

    [Fact]
    public async Task User_properties_above_MaxUserPropertyBytes_end_the_connection_with_0x97_and_are_counted()
    {
        // Before: 100 KB of user properties (100 entries, under the 1,024-entry cap) were decoded and the PUBLISH was
        // acknowledged. Now the default 64 KiB cap stops the decoder: DISCONNECT 0x97, counter and log line.
        await using var server = await TestServer.StartAsync();
        await using var client = await server.Connect5Async(Names.ClientId("big-props"));
        await client.SendAsync(Packets5.Publish(Names.Topic("big"), "x", qos: 1, packetId: 1, properties: UserPropertiesOf(100_000)));
        await client.ExpectDisconnect5Async(0x97);
        await client.ExpectClosedAsync();
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.UserPropertyBytesRefused));
        Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "UserPropertyBytes", "Limits:MaxUserPropertyBytes"));

        // 60 KB is within the default.
        await using var ok = await server.Connect5Async(Names.ClientId("ok-props"));
        await ok.SendAsync(Packets5.Publish(Names.Topic("ok"), "x", qos: 1, packetId: 1, properties: UserPropertiesOf(60_000)));
        await ok.ExpectPacketAsync(PacketKind.PubAck);
    }

    [Fact]
    public async Task MaxUserPropertyBytes_is_configurable_applies_to_CONNECT_and_rejects_bad_values()
    {
        await using (var server = await StartAsync(("Limits:MaxUserPropertyBytes", "1500")))
        {
            // A CONNECT with 2 KB of user properties: refused before CONNACK (the connection is closed).
            await using var client = await server.OpenAsync("connect-props");
            await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = Names.ClientId("c"), Properties = UserPropertiesOf(2000) }));
            await client.ExpectClosedAsync();
            Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.UserPropertyBytesRefused));
        }
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(("Limits:MaxUserPropertyBytes", "-1")));
        Assert.Contains("Limits:MaxUserPropertyBytes", ex.Message, StringComparison.Ordinal);
    }
}
