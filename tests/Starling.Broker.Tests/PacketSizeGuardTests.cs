using Microsoft.Extensions.Time.Testing;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests;

/// <summary>
/// <see cref="PacketSizeGuard"/> alone: optional properties go first [MQTT-3.1.2-24] / [MQTT-3.14.2-3], and the
/// log line for packets that cannot be sent is rate-limited (one per 10 s, with the number suppressed).
/// </summary>
public class PacketSizeGuardTests
{
    [Fact]
    public void MQTT_3_14_2_3_reason_string_and_user_properties_are_dropped_when_that_makes_the_packet_fit()
    {
        var disconnect = new DisconnectPacket
        {
            ReasonCode = ReasonCode.PacketTooLarge,
            Properties = new MqttProperties { ReasonString = new string('r', 40), UserProperties = [new UserProperty("k", "v")] },
        };
        Assert.True(PacketSizeGuard.TryFit(disconnect, ProtocolVersion.V500, 1000));
        Assert.NotNull(disconnect.Properties!.ReasonString); // fits: left alone

        Assert.True(PacketSizeGuard.TryFit(disconnect, ProtocolVersion.V500, 3));
        Assert.Null(disconnect.Properties!.ReasonString);
        Assert.Null(disconnect.Properties.UserProperties);
        Assert.True(PacketEncoder.GetSize(disconnect, ProtocolVersion.V500) <= 3, "DISCONNECT 0x95 without properties: e0 01 95");

        Assert.False(PacketSizeGuard.TryFit(new DisconnectPacket { ReasonCode = ReasonCode.PacketTooLarge }, ProtocolVersion.V500, 2));
        Assert.False(PacketSizeGuard.TryFit(new SubAckPacket { PacketId = 1, ReasonCodes = new ReasonCode[20] }, ProtocolVersion.V500, 15));
        // No maximum, or a version without one: always fits.
        Assert.True(PacketSizeGuard.TryFit(new SubAckPacket { PacketId = 1, ReasonCodes = new ReasonCode[20] }, ProtocolVersion.V500, uint.MaxValue));
        Assert.True(PacketSizeGuard.TryFit(new SubAckPacket { PacketId = 1, ReasonCodes = new ReasonCode[20] }, ProtocolVersion.V311, 15));
    }

    [Fact]
    public void Packets_too_large_are_counted_and_logged_at_most_once_per_10_seconds()
    {
        var time = new FakeTimeProvider();
        var counters = new BrokerCounters();
        using var logs = new CapturingLoggerProvider();
        var guard = new PacketSizeGuard(counters, logs.CreateLogger("test"), time);

        for (var i = 0; i < 5; i++)
        {
            guard.TooLarge("c", null, PacketType.SubAck, 16, 15);
        }
        time.Advance(TimeSpan.FromSeconds(11));
        guard.TooLarge("c", null, PacketType.ConnAck, 16, 15);

        Assert.Equal(6, Interlocked.Read(ref counters.PacketsTooLargeForClient));
        Assert.Equal(2, logs.Messages.Count);
        Assert.Contains("(0 more in the previous 10 s not logged)", logs.Messages[0], StringComparison.Ordinal);
        Assert.Contains("CONNACK", logs.Messages[1].ToUpperInvariant(), StringComparison.Ordinal);
        Assert.Contains("(4 more in the previous 10 s not logged)", logs.Messages[1], StringComparison.Ordinal);
    }
}
