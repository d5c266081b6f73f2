using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>The body handed to the decoder may span several segments: every split point must decode the same.</summary>
public class MultiSegmentTests
{
    public static TheoryData<string> Frames => new(
        "v4 CONNECT will+username+password",
        "v5 CONNECT properties+will properties",
        "v5 PUBLISH QoS1 properties",
        "v4 SUBSCRIBE two filters",
        "v5 SUBSCRIBE options and subscription id",
        "v5 CONNACK properties",
        "v5 PUBREC reason string",
        "v5 DISCONNECT reason string",
        "v5 AUTH continue");

    [Theory]
    [MemberData(nameof(Frames))]
    public void Decode_is_the_same_at_every_split_offset(string name)
    {
        var (factory, version, hex) = GoldenBytesTests.Cases[name];
        var decodeVersion = factory() is ConnectPacket ? ProtocolVersion.Unknown : version;
        var frame = Hex(hex);
        var expected = PacketDump.Describe(Decode(frame, decodeVersion));

        for (var cut = 1; cut < frame.Length; cut++)
        {
            Assert.Equal(expected, PacketDump.Describe(Decode(Split(frame, cut), decodeVersion)));
            Assert.Equal(expected, PacketDump.Describe(Decode(Split(frame, cut, cut + 3), decodeVersion)));
        }
        Assert.Equal(expected, PacketDump.Describe(Decode(OneBytePerSegment(frame), decodeVersion)));
    }

    [Fact]
    public void Publish_payload_stays_a_view_of_the_segments()
    {
        var frame = Hex(GoldenBytesTests.Cases["v4 PUBLISH QoS0"].Hex); // 30 07 00 03 61 2F 62 68 69
        var sequence = OneBytePerSegment(frame);
        var p = Assert.IsType<PublishPacket>(Decode(sequence, ProtocolVersion.V311));
        Assert.False(p.Payload.IsSingleSegment);
        Assert.Equal(sequence.Slice(7).Start, p.Payload.Start);
        Assert.Equal("hi"u8.ToArray(), p.Payload.ToArray());
    }

    [Fact]
    public void Long_string_split_across_segments_is_validated_and_decoded()
    {
        // 1,000-byte topic (above the stack-copy limit) cut into many segments.
        var topic = string.Concat(Enumerable.Repeat("ä", 500));
        var frame = Encode(new PublishPacket { Topic = topic }, ProtocolVersion.V311);
        var p = Assert.IsType<PublishPacket>(Decode(Split(frame, Enumerable.Range(1, 50).Select(i => i * 21).ToArray()), ProtocolVersion.V311));
        Assert.Equal(topic, p.Topic);
        // A surrogate encoded across a segment boundary is still rejected.
        var bad = Hex("30 05 00 03 ED A0 80");
        for (var cut = 1; cut < bad.Length; cut++)
        {
            var ex = Assert.Throws<MqttProtocolException>(() => Decode(Split(bad, cut), ProtocolVersion.V311));
            Assert.Equal(ReasonCode.MalformedPacket, ex.ReasonCode);
        }
    }
}
