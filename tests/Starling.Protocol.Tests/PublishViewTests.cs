using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>
/// <see cref="PacketDecoder.DecodePublish"/> and <see cref="PacketDecoder.DecodePubAck"/>: what
/// <see cref="PacketDecoder.Decode"/> says, without a packet object, and a repeated topic reuses the cached one.
/// </summary>
public class PublishViewTests
{
    public static TheoryData<string> Frames => new(GoldenBytesTests.Cases
        .Where(c => c.Key.Contains("PUBLISH", StringComparison.Ordinal) || c.Key.Contains(" PUB", StringComparison.Ordinal))
        .Select(c => c.Key));

    [Theory]
    [MemberData(nameof(Frames))]
    public void View_decodes_what_Decode_does_at_every_split_offset(string name)
    {
        var (_, version, hex) = GoldenBytesTests.Cases[name];
        var frame = Hex(hex);
        var expected = PacketDump.Describe(Decode(frame, version));
        for (var cut = 0; cut < frame.Length; cut++)
        {
            TopicName? topic = null;
            Assert.Equal(expected, PacketDump.Describe(DecodeWithView(Split(frame, cut), version, ref topic)));
            // Again with the topic just decoded cached: the same packet.
            Assert.Equal(expected, PacketDump.Describe(DecodeWithView(Split(frame, cut, cut + 2), version, ref topic)));
        }
    }

    [Fact]
    public void Repeated_topic_is_the_cached_instance_even_across_segments()
    {
        var frame = Encode(new PublishPacket { Topic = "sensors/ä/temp", QoS = QualityOfService.AtLeastOnce, PacketId = 7, Payload = new(new byte[3]) },
            ProtocolVersion.V311);
        TopicName? topic = null;
        DecodeWithView(new(frame), ProtocolVersion.V311, ref topic);
        var first = topic;
        Assert.Equal("sensors/ä/temp", first!.Name);
        Assert.Equal("sensors/ä/temp"u8.ToArray(), first.Utf8);
        for (var cut = 1; cut < frame.Length; cut++)
        {
            DecodeWithView(Split(frame, cut), ProtocolVersion.V311, ref topic);
            Assert.Same(first, topic);
        }
        // Another topic of the same length is not mistaken for it.
        var other = Encode(new PublishPacket { Topic = "sensors/ä/tem_" }, ProtocolVersion.V311);
        DecodeWithView(new(other), ProtocolVersion.V311, ref topic);
        Assert.NotSame(first, topic);
        Assert.Equal("sensors/ä/tem_", topic!.Name);
    }

    [Fact]
    public void Repeated_topic_and_acks_decode_without_allocating()
    {
        var publish = Encode(new PublishPacket { Topic = "bench/sensors/temperature", QoS = QualityOfService.AtLeastOnce, PacketId = 1, Payload = new(new byte[64]) },
            ProtocolVersion.V311);
        var ack = Hex("40 02 00 05");
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(publish), int.MaxValue, out var publishHeader, out _));
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(ack), int.MaxValue, out var ackHeader, out _));
        var publishBody = new ReadOnlySequence<byte>(publish).Slice(publishHeader.HeaderLength);
        var ackBody = new ReadOnlySequence<byte>(ack).Slice(ackHeader.HeaderLength);
        var cached = PacketDecoder.DecodePublish(publishHeader, publishBody, ProtocolVersion.V311, null).Topic;
        var misses = 0;
        var bytes = AllocationMeter.MinBytes(() =>
        {
            var view = PacketDecoder.DecodePublish(publishHeader, publishBody, ProtocolVersion.V311, cached);
            var ackView = PacketDecoder.DecodePubAck(ackHeader, ackBody, ProtocolVersion.V500);
            misses += ReferenceEquals(cached, view.Topic) && ackView.PacketId == 5 ? 0 : 1;
        });
        Assert.Equal(0, misses);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void Repeated_v5_properties_are_the_cached_instance_and_decode_without_allocating()
    {
        var properties = new MqttProperties { ContentType = "application/json", TopicAlias = 3, UserProperties = [new("k", "v")] };
        var publish = Encode(new PublishPacket { Topic = "t", QoS = QualityOfService.AtLeastOnce, PacketId = 1, Properties = properties, Payload = new(new byte[8]) },
            ProtocolVersion.V500);
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(publish), int.MaxValue, out var header, out _));
        var body = new ReadOnlySequence<byte>(publish).Slice(header.HeaderLength);
        var cache = new PublishPropertiesCache();
        var first = PacketDecoder.DecodePublish(header, body, ProtocolVersion.V500, null, cache);
        Assert.Equal(("application/json", (ushort?)3), (first.Properties!.ContentType, first.Properties.TopicAlias));
        var cached = first.Properties;
        Assert.Same(cached, cache.Properties);
        var topic = first.Topic;
        for (var cut = 1; cut < publish.Length - header.HeaderLength; cut++)
        {
            var again = PacketDecoder.DecodePublish(header, Split(publish, header.HeaderLength + cut).Slice(header.HeaderLength), ProtocolVersion.V500, topic, cache);
            Assert.Same(first.Properties, again.Properties);
            Assert.Equal(8, again.Payload.Length);
        }
        var misses = 0;
        var bytes = AllocationMeter.MinBytes(() =>
        {
            var view = PacketDecoder.DecodePublish(header, body, ProtocolVersion.V500, topic, cache);
            misses += ReferenceEquals(view.Properties, cached) ? 0 : 1;
        });
        Assert.Equal(0, misses);
        Assert.Equal(0, bytes);

        // Other bytes of the same length are decoded afresh and replace the cached ones.
        properties.ContentType = "application/jsox";
        var other = Encode(new PublishPacket { Topic = "t", QoS = QualityOfService.AtLeastOnce, PacketId = 1, Properties = properties, Payload = new(new byte[8]) },
            ProtocolVersion.V500);
        FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(other), int.MaxValue, out var otherHeader, out _);
        var changed = PacketDecoder.DecodePublish(otherHeader, new ReadOnlySequence<byte>(other).Slice(otherHeader.HeaderLength), ProtocolVersion.V500, topic, cache);
        Assert.NotSame(first.Properties, changed.Properties);
        Assert.Equal("application/jsox", changed.Properties!.ContentType);
        Assert.Same(changed.Properties, cache.Properties);
    }

    [Fact]
    public void A_cached_property_section_does_not_excuse_a_malformed_one()
    {
        var cache = new PublishPropertiesCache();
        var good = Encode(new PublishPacket { Topic = "t", Properties = new MqttProperties { ContentType = "a" } }, ProtocolVersion.V500);
        FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(good), int.MaxValue, out var header, out _);
        PacketDecoder.DecodePublish(header, new ReadOnlySequence<byte>(good).Slice(header.HeaderLength), ProtocolVersion.V500, null, cache);
        // Same length, other bytes: the Content Type's string length becomes 0, which leaves "a" (0x61) to be read
        // as a property identifier, and there is none such (table 2-4): malformed, cache or not.
        var bad = (byte[])good.Clone();
        var at = Array.IndexOf(bad, (byte)0x03);
        bad[at + 2] = 0;
        FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(bad), int.MaxValue, out var badHeader, out _);
        Assert.ThrowsAny<MqttProtocolException>(() =>
            PacketDecoder.DecodePublish(badHeader, new ReadOnlySequence<byte>(bad).Slice(badHeader.HeaderLength), ProtocolVersion.V500, null, cache));
    }

    [Fact]
    public void Other_packet_types_are_refused()
    {
        var frame = Hex("C0 00");
        var header = new FrameHeader(frame[0], 0, 2);
        Assert.Throws<ArgumentException>(() => PacketDecoder.DecodePubAck(header, ReadOnlySequence<byte>.Empty, ProtocolVersion.V311));
        Assert.Throws<ArgumentException>(() => PacketDecoder.DecodePublish(header, ReadOnlySequence<byte>.Empty, ProtocolVersion.V311, null));
    }
}
