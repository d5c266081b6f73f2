using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Before CONNECT nobody is authenticated: a socket must not make the broker buffer (or decode) a large frame. The
/// first byte decides whether the packet can be CONNECT, and a CONNECT may be at most Limits:MaxConnectPacketSize.
/// Each test sends only a fixed header that announces a huge frame and expects the close before any body byte.
/// </summary>
public sealed class EarlyRefusalTests
{
    [Fact]
    public async Task First_byte_other_than_CONNECT_closes_at_once_without_buffering_the_frame_MQTT_3_1_0_1()
    {
        // Before: the broker waited for the whole announced 16,000,000-byte PUBLISH before saying "first packet must
        // be CONNECT", holding up to 16 MiB per socket. Now the 5-byte header alone closes it.
        await using var server = await TestServer.StartAsync();
        await using var client = await server.OpenAsync("not-connect");
        await client.SendAsync(new byte[] { 0x30, 0x80, 0xC8, 0xD0, 0x07 }); // PUBLISH, remaining length 16,000,000
        await client.ExpectClosedAsync();
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.FirstPacketNotConnect));
        var metrics = server.Server.Broker.Counters;
        Assert.True(Interlocked.Read(ref metrics.ProtocolErrors) >= 1);
    }

    [Fact]
    public async Task Connect_above_MaxConnectPacketSize_closes_from_its_fixed_header()
    {
        // Before: a 14 MiB CONNECT (within MaxPacketSize) was buffered and decoded, user properties and all, before any
        // refusal. Now the announced length alone (above the 256 KiB default) closes the connection.
        await using var server = await TestServer.StartAsync();
        await using var client = await server.OpenAsync("big-connect");
        await client.SendAsync(new byte[] { 0x10, 0x80, 0x80, 0x80, 0x07 }); // CONNECT, remaining length 14,680,064
        await client.ExpectClosedAsync();
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.ConnectTooLarge));
    }

    [Fact]
    public async Task Connect_within_MaxConnectPacketSize_is_accepted_and_the_limit_is_configurable()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Limits:MaxConnectPacketSize"] = "64" });
        // A plain CONNECT is well below 64 bytes.
        await using var small = await RawMqttClient.ConnectOkAsync(server.Endpoint, "small");
        // Client id of 100 bytes: the CONNECT is above 64 bytes and is refused without CONNACK.
        var (big, code) = await RawMqttClient.ConnectForCodeAsync(server.Endpoint, new string('c', 100));
        await big.DisposeAsync();
        Assert.Equal(-1, code);
        Assert.Equal(1, Interlocked.Read(ref server.Server.Broker.Counters.ConnectTooLarge));
    }

    [Fact]
    public async Task More_than_1024_user_properties_in_a_packet_end_the_connection_with_0x97_before_they_are_decoded()
    {
        // Before: 2,000 user properties (10 KB) were all decoded into a list and the PUBLISH was delivered; the same
        // at 16 MiB meant millions of entries per packet. Now the decoder stops at the 1,025th: DISCONNECT 0x97.
        await using var server = await TestServer.StartAsync();
        await using var client = await server.Connect5Async("many-user-props");
        var props = new Props();
        for (var i = 0; i < 2000; i++)
        {
            props.User("", "");
        }
        await client.SendAsync(Packets5.Publish("t/many", "x", qos: 1, packetId: 1, properties: props));
        await client.ExpectDisconnect5Async(0x97);
        await client.ExpectClosedAsync();

        // 1,024 are fine.
        await using var ok = await server.Connect5Async("enough-user-props");
        var allowed = new Props();
        for (var i = 0; i < 1024; i++)
        {
            allowed.User("k", "v");
        }
        await ok.SendAsync(Packets5.Publish("t/enough", "x", qos: 1, packetId: 1, properties: allowed));
        await ok.ExpectPacketAsync(PacketKind.PubAck); // v5: 0x10 no matching subscribers
    }
}
