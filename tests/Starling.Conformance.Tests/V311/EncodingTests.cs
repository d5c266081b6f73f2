using System.Text;
using Starling.Testing;

namespace Starling.Conformance.Tests.V311;

/// <summary>MQTT 3.1.1 sections 1.5.3 (UTF-8 strings), 2 (packet format) and 4.8 (protocol violations).</summary>
public sealed class EncodingTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    /// <summary>Sends <paramref name="bad"/> where a string goes in the packet named by <paramref name="place"/>.</summary>
    private async Task SendStringInAsync(string place, byte[] bad)
    {
        if (place.StartsWith("connect-", StringComparison.Ordinal))
        {
            var spec = place switch
            {
                "connect-client-id" => new ConnectSpec { RawClientId = bad },
                "connect-will-topic" => new ConnectSpec { ClientId = Names.ClientId(), Will = new WillSpec("unused", "x") { RawTopic = bad } },
                "connect-user-name" => new ConnectSpec { ClientId = Names.ClientId(), RawUserName = bad, Password = [1] },
                _ => throw new ArgumentOutOfRangeException(nameof(place)),
            };
            await using var raw = await Server.OpenAsync();
            await raw.SendAsync(RawPackets.Connect(spec));
            await raw.ExpectClosedAsync();
            return;
        }

        await using var client = await Server.ConnectAsync(Names.ClientId());
        var packet = place switch
        {
            "publish-topic" => RawPackets.PublishRaw(0x32, bad, 1, [1]),
            "subscribe-filter" => RawPackets.SubscribeRaw(0x82, 1, new ByteBuilder().Prefixed(bad).U8(1).ToArray()),
            "unsubscribe-filter" => RawPackets.UnsubscribeRaw(0xA2, 1, new ByteBuilder().Prefixed(bad).ToArray()),
            _ => throw new ArgumentOutOfRangeException(nameof(place)),
        };
        await client.SendAsync(packet);
        await client.ExpectClosedAsync();
    }

    [Theory]
    [InlineData("publish-topic", "61C328")]     // "a" then a lead byte followed by a non-continuation byte
    [InlineData("publish-topic", "EDA080")]     // U+D800 (a surrogate) encoded as UTF-8
    [InlineData("publish-topic", "C0AF")]       // overlong encoding of "/"
    [InlineData("publish-topic", "61FF")]       // 0xFF never appears in UTF-8
    [InlineData("publish-topic", "F4908080")]   // above U+10FFFF
    [InlineData("publish-topic", "61E282")]     // truncated three-byte sequence
    [InlineData("subscribe-filter", "EDBFBF")]  // U+DFFF
    [InlineData("subscribe-filter", "C328")]
    [InlineData("unsubscribe-filter", "C328")]
    [InlineData("connect-client-id", "C328")]
    [InlineData("connect-client-id", "EDA080")]
    [InlineData("connect-will-topic", "C328")]
    [InlineData("connect-user-name", "EDA080")]
    public async Task MQTT_1_5_3_1_IllFormedUtf8ClosesConnection(string place, string hex)
    {
        await SendStringInAsync(place, Convert.FromHexString(hex));
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("publish-topic")]
    [InlineData("subscribe-filter")]
    [InlineData("unsubscribe-filter")]
    [InlineData("connect-client-id")]
    [InlineData("connect-will-topic")]
    [InlineData("connect-user-name")]
    public async Task MQTT_1_5_3_2_NullCharacterClosesConnection(string place)
    {
        await SendStringInAsync(place, [0x61, 0x00, 0x62]);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_1_5_3_1_WellFormedMultiByteUtf8IsAccepted()
    {
        var topic = Names.Topic() + "/\u00e9\u4e2d\U0001F600";
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(topic, "unicode", qos: 1);
        var delivered = await subscriber.ExpectPayloadAsync("unicode");
        Assert.Equal(Encoding.UTF8.GetBytes(topic), delivered.TopicBytes);
    }

    [Fact]
    public async Task MQTT_1_5_3_3_ByteOrderMarkIsNotStripped()
    {
        var root = Names.Topic();
        var withBom = root + "/\uFEFFbom";
        var without = root + "/bom";
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((withBom, 1));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        await publisher.PublishAsync(without, "no-bom", qos: 1);
        await publisher.PublishAsync(withBom, "bom", qos: 1);

        var delivered = await subscriber.ExpectPayloadAsync("bom");
        Assert.Equal(Encoding.UTF8.GetBytes(withBom), delivered.TopicBytes);
        Assert.Equal([0xEF, 0xBB, 0xBF], delivered.TopicBytes[(root.Length + 1)..(root.Length + 4)]);
    }

    [Theory]
    [InlineData("PUBACK", 0x42)]
    [InlineData("PUBREC", 0x51)]
    [InlineData("PUBCOMP", 0x78)]
    [InlineData("PINGREQ", 0xC1)]
    [InlineData("PINGREQ", 0xC8)]
    public async Task MQTT_2_2_2_2_InvalidFlagsCloseConnection(string kind, byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        byte[] packet = kind == "PINGREQ" ? [header, 0x00] : ByteBuilder.Frame(header, new ByteBuilder().U16(1).ToArray());
        await client.SendAsync(packet);
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_2_2_2_ConnectWithFlagsClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        var connect = RawPackets.Connect(Names.ClientId());
        connect[0] = 0x12;
        await client.SendAsync(connect);
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0xF0)]
    public async Task MQTT_4_8_0_1_ReservedPacketTypeClosesConnection(byte header)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(new byte[] { header, 0x00 });
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(0x20, "0000")] // CONNACK
    [InlineData(0x90, "000100")] // SUBACK
    [InlineData(0xB0, "0001")] // UNSUBACK
    [InlineData(0xD0, "")] // PINGRESP
    public async Task MQTT_4_8_0_1_ServerToClientPacketFromClientClosesConnection(byte header, string bodyHex)
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(ByteBuilder.Frame(header, Convert.FromHexString(bodyHex)));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("PUBLISH-QOS1")]
    [InlineData("PUBLISH-QOS2")]
    [InlineData("SUBSCRIBE")]
    [InlineData("UNSUBSCRIBE")]
    public async Task MQTT_2_3_1_1_PacketIdZeroClosesConnection(string kind)
    {
        var topic = Names.Topic();
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(kind switch
        {
            "PUBLISH-QOS1" => RawPackets.PublishRaw(0x32, Encoding.UTF8.GetBytes(topic), 0, [1]),
            "PUBLISH-QOS2" => RawPackets.PublishRaw(0x34, Encoding.UTF8.GetBytes(topic), 0, [1]),
            "SUBSCRIBE" => RawPackets.Subscribe(0, (topic, 1)),
            _ => RawPackets.Unsubscribe(0, topic),
        });
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_2_3_RemainingLengthOfFiveBytesClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(new byte[] { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 0x61 });
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_2_3_MalformedRemainingLengthBeforeConnectClosesConnection()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(new byte[] { 0x10, 0x80, 0x80, 0x80, 0x80, 0x01 });
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_8_0_1_StringLongerThanPacketClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        // PUBLISH QoS 0 whose topic length (200) runs past the end of its 5-byte body.
        await client.SendAsync(ByteBuilder.Frame(0x30, [0x00, 0xC8, 0x61, 0x62, 0x63]));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_4_8_0_1_AckWithWrongLengthClosesConnection()
    {
        await using var client = await Server.ConnectAsync(Names.ClientId());
        await client.SendAsync(ByteBuilder.Frame(0x40, [0x00, 0x01, 0x00]));
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task Framing_PacketsSplitAcrossWritesAreReassembled()
    {
        var topic = Names.Topic();
        await using var subscriber = await Server.ConnectAsync(Names.ClientId("sub"));
        await subscriber.SubscribeGrantedAsync((topic, 1));
        await using var publisher = await Server.ConnectAsync(Names.ClientId("pub"));
        var packet = RawPackets.Publish(topic, new string('x', 300), qos: 1, packetId: 3);
        foreach (var b in packet)
        {
            await publisher.SendAsync(new[] { b });
        }

        await publisher.ExpectAckAsync(PacketKind.PubAck, 3);
        Assert.Equal(300, (await subscriber.ReceiveAndAckAsync()).Payload.Length);
    }
}
