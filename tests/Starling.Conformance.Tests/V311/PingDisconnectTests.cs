using System.Diagnostics;
using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 3.12 to 3.14 and the keep-alive of 3.1.2.10.</summary>
public sealed class PingDisconnectTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    [Fact]
    public async Task MQTT_3_12_4_1_PingReqIsAnsweredWithPingResp()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        for (var i = 0; i < 3; i++)
        {
            await client.SendAsync(RawPackets.PingReq());
            var frame = await client.ExpectPacketAsync(PacketKind.PingResp);
            Assert.Equal(0xD0, frame.Header);
            Assert.Empty(frame.Body);
        }
    }

    [Fact]
    public async Task MQTT_3_12_4_1_PingReqWithBodyClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(new byte[] { 0xC0, 0x01, 0x00 });
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Disconnect_ServerClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(RawPackets.Disconnect());
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_24_SilentClientIsDisconnectedAfterOneAndAHalfKeepAlive()
    {
        var watch = Stopwatch.StartNew();
        await using var client = await Server.ConnectAsync(Names.ClientId(), keepAlive: 1);
        await client.ExpectClosedAsync(TimeSpan.FromSeconds(5));
        watch.Stop();
        // 1.5 x 1 s is the deadline; closing before even one keep-alive period passed would be wrong too.
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1), $"closed after {watch.Elapsed.TotalMilliseconds:0} ms, before the keep-alive period");
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_24_AnyControlPacketKeepsConnectionAlive()
    {
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId(), keepAlive: 1);
        var watch = Stopwatch.StartNew();
        var i = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(3.5))
        {
            // Pacing, not waiting for a condition: one packet every 0.5 s, alternating kinds. Real time on purpose:
            // keep-alive over a real socket, end to end (the broker-level case runs on a fake clock in Broker.Tests).
            await Task.Delay(TimeSpan.FromMilliseconds(500));
            if (i++ % 2 == 0)
            {
                await client.PingAsync();
            }
            else
            {
                await client.SendAsync(RawPackets.Publish(topic, "tick", qos: 1, packetId: (ushort)i));
                await client.ExpectAckAsync(PacketKind.PubAck, (ushort)i);
            }
        }

        await client.PingAsync();
    }
}
