using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>
/// [MQTT-3.1.2-24]: the server never sends a packet above the client's Maximum Packet Size, whatever its type (issue
/// 16, finding 23: only PUBLISH was checked). A CONNACK that does not fit means closing without it; a SUBACK or
/// UNSUBACK that does not fit closes the connection (DISCONNECT 0x95 when that fits) before anything changes; optional
/// properties (Reason String, User Property) are dropped first where that is enough [MQTT-3.14.2-3].
/// </summary>
public sealed class MaximumPacketSizeTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private static Connect5 WithMaximum(string clientId, uint maximum, Props? more = null)
    {
        var props = new Props().U32(Prop.MaximumPacketSize, maximum);
        return new Connect5 { ClientId = clientId, Properties = more is null ? props : props.Raw(more.Encode()[1..]) };
    }

    private static int Size(MqttFrame frame) => 1 + ByteBuilder.VarInt(frame.Body.Length).Length + frame.Body.Length;

    /// <summary>The size of the CONNACK this server sends a plain v5 client that announces a Maximum Packet Size.</summary>
    private async Task<int> ConnAckSizeAsync()
    {
        await using var probe = await Server.OpenAsync("probe");
        await probe.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId("probe"), 1000)));
        return Size(await probe.ExpectPacketAsync(PacketKind.ConnAck));
    }

    [Theory]
    [InlineData(15u)]
    [InlineData(2u)]
    public async Task MQTT_3_1_2_24_ConnackLargerThanClientMaximumIsNotSent(uint maximum)
    {
        Assert.True(await ConnAckSizeAsync() > maximum, "the test needs a CONNACK above the maximum");
        await using var client = await Server.OpenAsync("small");
        await client.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId("small"), maximum)));
        await client.ExpectClosedAsync(); // fails on any packet before the close
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_24_ConnackIsSentWhenItFitsExactly()
    {
        var size = await ConnAckSizeAsync();
        await using var client = await Server.OpenAsync("exact");
        await client.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId("exact"), (uint)size)));
        Assert.Equal(size, Size(await client.ExpectPacketAsync(PacketKind.ConnAck)));
        await client.PingAsync();
    }

    /// <summary>A CONNACK too large for the client closes before the session is touched: the connected owner stays.</summary>
    [Fact]
    public async Task MQTT_3_1_2_24_ConnackTooLargeDoesNotTakeTheSessionOver()
    {
        var id = Names.ClientId("owner");
        await using var owner = await Server.Connect5Async(id);
        var size = await ConnAckSizeAsync();
        await using (var intruder = await Server.OpenAsync("intruder"))
        {
            await intruder.SendAsync(Packets5.Connect(WithMaximum(id, (uint)size - 1)));
            await intruder.ExpectClosedAsync();
        }

        await owner.PingAsync(); // not taken over: no DISCONNECT 0x8E
    }

    [Fact]
    public async Task MQTT_3_1_2_24_RefusingConnackLargerThanClientMaximumIsNotSent()
    {
        var method = new Props().Str(Prop.AuthenticationMethod, "NO-SUCH-METHOD");
        await using (var fits = await Server.OpenAsync("fits"))
        {
            await fits.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId("fits"), 5, method)));
            await fits.ExpectConnectRefused5Async(0x8C); // 5 bytes: 20 03 00 8C 00
        }

        await using var small = await Server.OpenAsync("small");
        await small.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId("small"), 4, method)));
        await small.ExpectClosedAsync();
    }

    private async Task<RawMqttClient> ConnectWithMaximumAsync(uint maximum)
    {
        var client = await Server.OpenAsync("client");
        await client.SendAsync(Packets5.Connect(WithMaximum(Names.ClientId(), maximum)));
        await client.ExpectPacketAsync(PacketKind.ConnAck);
        return client;
    }

    private static Sub[] Filters(string prefix, int count) => [.. Enumerable.Range(0, count).Select(i => new Sub($"{prefix}/{i}", 0))];

    /// <summary>SUBACK = 2 + packet id 2 + property length 1 + one code per filter: 10 filters make 15 bytes, 11 make 16.</summary>
    [Fact]
    public async Task MQTT_3_1_2_24_SubackLargerThanClientMaximumIsNotSent()
    {
        var size = await ConnAckSizeAsync();
        await using var client = await ConnectWithMaximumAsync((uint)size);
        var prefix = Names.Topic();
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Subscribe(id, Filters(prefix, size - 5)));
        Assert.Equal(size, Size(await client.ExpectPacketAsync(PacketKind.SubAck)));

        await client.SendAsync(Packets5.Subscribe(client.NextPacketId(), Filters(prefix + "/more", size - 4)));
        var disconnect = await client.ExpectDisconnect5Async(0x95);
        Assert.NotNull(disconnect);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_24_UnsubackLargerThanClientMaximumIsNotSent()
    {
        var size = await ConnAckSizeAsync();
        await using var client = await ConnectWithMaximumAsync((uint)size);
        var prefix = Names.Topic();
        await client.SendAsync(Packets5.Unsubscribe(client.NextPacketId(), [.. Filters(prefix, size - 5).Select(s => s.Filter)]));
        Assert.Equal(size, Size(await client.ExpectPacketAsync(PacketKind.UnsubAck)));

        await client.SendAsync(Packets5.Unsubscribe(client.NextPacketId(), [.. Filters(prefix, size - 4).Select(s => s.Filter)]));
        await client.ExpectDisconnect5Async(0x95);
    }

    /// <summary>A SUBSCRIBE refused for its SUBACK's size changes nothing: the session does not get the subscriptions.</summary>
    [Fact]
    public async Task MQTT_3_1_2_24_SubscribeWhoseSubackCannotBeSentIsNotCarriedOut()
    {
        var size = await ConnAckSizeAsync();
        var id = Names.ClientId("keep");
        var prefix = Names.Topic();
        var expiry = new Props().U32(Prop.SessionExpiryInterval, 60);
        await using (var client = await Server.OpenAsync("keep"))
        {
            await client.SendAsync(Packets5.Connect(WithMaximum(id, (uint)size, expiry) with { CleanStart = true }));
            await client.ExpectPacketAsync(PacketKind.ConnAck);
            await client.SendAsync(Packets5.Subscribe(client.NextPacketId(), Filters(prefix, size - 4)));
            await client.ExpectDisconnect5Async(0x95);
        }

        await using var again = await Server.Connect5Async(new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 0) });
        await again.Subscribe5GrantedAsync(prefix + "/marker", 0);
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(prefix + "/0", "not-subscribed", 0);
        await publisher.Publish5Async(prefix + "/marker", "marker", 0);
        await again.ExpectPayload5Async("marker");
    }
}
