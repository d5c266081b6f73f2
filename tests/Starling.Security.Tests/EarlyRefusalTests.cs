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
}
