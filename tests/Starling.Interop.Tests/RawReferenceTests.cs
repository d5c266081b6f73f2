using System.Net;
using Starling.Interop.Tests.Infrastructure;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Interop.Tests;

/// <summary>
/// Byte-level cases replayed against Starling and against Mosquitto (the reference) with the toolkit's raw client:
/// what a conformance run found, checked to be what Mosquitto does too.
/// </summary>
public sealed class RawReferenceTests
{
    public static TheoryData<string> Targets() => [.. TestBroker.Targets];

    private static IPEndPoint EndPoint(TestBroker broker) => new(IPAddress.Parse(broker.Host), broker.Port);

    private static async Task<RawMqttClient> Connect31Async(TestBroker broker, string clientId)
    {
        var client = await RawMqttClient.OpenAsync(EndPoint(broker), clientId, ProtocolVersion.V310);
        await client.SendAsync(RawPackets.Connect(ConnectSpec.V31(clientId)));
        Assert.Equal(0, (await client.ExpectConnAckAsync()).ReturnCode);
        return client;
    }

    /// <summary>
    /// MQTT 3.1 re-sends PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP set (and QoS 1, as 3.1 specifies for them); the
    /// 3.1.1 fixed-flag rule [MQTT-2.2.2-1] does not apply. Issue 16, finding 22: Starling closed the connection.
    /// </summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public Task Mqtt31_retries_with_DUP_get_PUBCOMP_SUBACK_and_UNSUBACK(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("dup");
        await using var client = await Connect31Async(broker, Matrix.Unique("c31"));

        await client.SendAsync(RawPackets.Publish(topic + "/q2", "x", qos: 2, packetId: 7));
        await client.ExpectAckAsync(PacketKind.PubRec, 7);
        await client.SendAsync(new byte[] { 0x6A, 0x02, 0x00, 0x07 }); // PUBREL with DUP
        await client.ExpectAckAsync(PacketKind.PubComp, 7);

        await client.SendAsync(RawPackets.SubscribeRaw(0x8A, 8, new ByteBuilder().Str(topic).U8(1).ToArray()));
        Assert.Equal([1], await client.ExpectSubAckAsync(8));

        await client.SendAsync(RawPackets.UnsubscribeRaw(0xAA, 9, new ByteBuilder().Str(topic).ToArray()));
        await client.ExpectUnsubAckAsync(9);
        await client.PingAsync();
    });

    /// <summary>The ways a subscriber can answer an in-flight delivery with the wrong acknowledgement.</summary>
    public static TheoryData<string, int, string> WrongAcks()
    {
        var data = new TheoryData<string, int, string>();
        foreach (var target in TestBroker.Targets)
        {
            data.Add(target, 1, "PUBREC");
            data.Add(target, 1, "PUBCOMP");
            data.Add(target, 2, "PUBACK");
            data.Add(target, 2, "PUBCOMP");
        }
        return data;
    }

    /// <summary>
    /// A 3.1.1 subscriber that answers a delivery with the wrong acknowledgement type for its packet id violates the
    /// protocol: the connection is closed [MQTT-4.8.0-1]. Issue 16, finding 25: Starling answered PUBREL or ignored it.
    /// </summary>
    [Theory]
    [MemberData(nameof(WrongAcks))]
    public Task Wrong_acknowledgement_type_for_an_inflight_packet_id_closes_the_connection_MQTT_4_8_0_1(string target, int qos, string ack)
        => BrokerCase.RunAsync(target, async broker =>
        {
            var topic = Matrix.Unique("ack");
            await using var subscriber = await RawMqttClient.ConnectOkAsync(EndPoint(broker), Matrix.Unique("sub"));
            await subscriber.SubscribeGrantedAsync((topic, qos));
            await using var publisher = await RawMqttClient.ConnectOkAsync(EndPoint(broker), Matrix.Unique("pub"));
            await publisher.PublishAsync(topic, "m", qos: qos);
            var delivered = await subscriber.ExpectPublishAsync();
            Assert.Equal(qos, delivered.Qos);

            var kind = ack switch { "PUBREC" => PacketKind.PubRec, "PUBCOMP" => PacketKind.PubComp, _ => PacketKind.PubAck };
            await subscriber.SendAsync(RawPackets.Ack(kind, delivered.PacketId, 0));
            await subscriber.ExpectClosedAsync();
        });

    /// <summary>An acknowledgement for a packet id that is not in flight is ignored by both (PUBREC gets PUBREL).</summary>
    [Theory]
    [MemberData(nameof(Targets))]
    public Task Acknowledgements_for_unknown_packet_ids_are_ignored(string target) => BrokerCase.RunAsync(target, async broker =>
    {
        await using var client = await RawMqttClient.ConnectOkAsync(EndPoint(broker), Matrix.Unique("unk"));
        await client.SendAsync(RawPackets.PubAck(41));
        await client.SendAsync(RawPackets.PubComp(42));
        await client.PingAsync();
    });
}
