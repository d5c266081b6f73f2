using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

public class PublishEncoderTests
{
    /// <summary>Counts GetSpan calls to check the encoder writes in as few spans as it says.</summary>
    private sealed class CountingWriter : IBufferWriter<byte>
    {
        public ArrayBufferWriter<byte> Inner { get; } = new(1 << 20);
        public int GetSpanCalls { get; private set; }

        public void Advance(int count) => Inner.Advance(count);

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            GetSpanCalls++;
            // Exactly the hint, as a pipe with small segments might: still within the IBufferWriter contract.
            var span = Inner.GetSpan(sizeHint);
            return sizeHint > 0 ? span[..sizeHint] : span;
        }
    }

    public static TheoryData<ProtocolVersion, QualityOfService, bool, int> Variants()
    {
        var data = new TheoryData<ProtocolVersion, QualityOfService, bool, int>();
        foreach (var v in new[] { ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500 })
        {
            foreach (var q in new[] { QualityOfService.AtMostOnce, QualityOfService.AtLeastOnce, QualityOfService.ExactlyOnce })
            {
                foreach (var withProperties in new[] { false, true })
                {
                    foreach (var payload in new[] { 0, 100, 16_000, 100_000 })
                    {
                        data.Add(v, q, withProperties, payload);
                    }
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void GetSize_equals_bytes_written_and_output_decodes(ProtocolVersion version, QualityOfService qos, bool withProperties, int payloadLength)
    {
        var payloadBytes = Enumerable.Range(0, payloadLength).Select(i => (byte)i).ToArray();
        var payload = payloadLength > 10 ? Split(payloadBytes, payloadLength / 3, payloadLength / 2) : new ReadOnlySequence<byte>(payloadBytes);
        var properties = withProperties
            ? new MqttProperties { MessageExpiryInterval = 5, SubscriptionIdentifiers = [3, 1000], UserProperties = [new("k", "v")], SessionExpiryInterval = 9 }
            : null;
        var topic = "sensors/β/temp"u8.ToArray();
        var writer = new CountingWriter();
        PublishEncoder.Write(writer, version, topic, payload, qos, retain: true, dup: false, packetId: qos == 0 ? (ushort)0 : (ushort)77, properties);

        var size = PublishEncoder.GetSize(version, topic.Length, payloadLength, qos, properties);
        Assert.Equal(size, writer.Inner.WrittenCount);
        if (size <= PublishEncoder.SingleSpanLimit)
        {
            Assert.Equal(1, writer.GetSpanCalls);
        }

        var p = Assert.IsType<PublishPacket>(Decode(writer.Inner.WrittenSpan.ToArray(), version));
        Assert.Equal("sensors/β/temp", p.Topic);
        Assert.Equal(qos, p.QoS);
        Assert.True(p.Retain);
        Assert.Equal(qos == 0 ? 0 : 77, p.PacketId);
        Assert.Equal(payloadBytes, p.Payload.ToArray());
        if (version == ProtocolVersion.V500 && withProperties)
        {
            Assert.Equal([3u, 1000u], p.Properties!.SubscriptionIdentifiers!);
            Assert.Null(p.Properties.SessionExpiryInterval); // not a PUBLISH property (table 2-4): not written
        }
        else
        {
            Assert.Null(p.Properties);
        }
    }

    [Fact]
    public void Write_allocates_nothing_after_warm_up()
    {
        var topic = "a/b/c"u8.ToArray();
        var payload = new ReadOnlySequence<byte>(new byte[200]);
        var big = Split(new byte[50_000], 20_000);
        var properties = new MqttProperties
        {
            MessageExpiryInterval = 10,
            ContentType = "text/plain",
            SubscriptionIdentifiers = [1, 2],
            UserProperties = [new("a", "b")],
            TopicAlias = 4,
        };
        var writer = new ArrayBufferWriter<byte>(1 << 20);
        void Once()
        {
            writer.ResetWrittenCount();
            PublishEncoder.Write(writer, ProtocolVersion.V500, topic, payload, QualityOfService.AtLeastOnce, false, false, 1, properties);
            PublishEncoder.Write(writer, ProtocolVersion.V311, topic, payload, QualityOfService.AtMostOnce, true, false, 0, null);
            PublishEncoder.Write(writer, ProtocolVersion.V500, topic, big, QualityOfService.ExactlyOnce, false, true, 2, properties);
            PublishEncoder.GetSize(ProtocolVersion.V500, topic.Length, payload.Length, QualityOfService.AtLeastOnce, properties);
        }
        Assert.Equal(0, AllocationMeter.MinBytes(Once));
        Assert.True(writer.WrittenCount > 50_000);
    }

    [Fact]
    public void Large_payload_is_written_in_chunks_after_one_header_span()
    {
        var writer = new CountingWriter();
        var payload = new ReadOnlySequence<byte>(new byte[3 * PublishEncoder.ChunkSize + 5]);
        PublishEncoder.Write(writer, ProtocolVersion.V311, "t"u8, payload, QualityOfService.AtMostOnce, false, false, 0, null);
        Assert.Equal(1 + 4, writer.GetSpanCalls); // header, then 3 full chunks and the rest
        Assert.Equal(PublishEncoder.GetSize(ProtocolVersion.V311, 1, payload.Length, QualityOfService.AtMostOnce, null), writer.Inner.WrittenCount);
    }

    [Fact]
    public void Invalid_arguments_are_rejected()
    {
        var writer = new ArrayBufferWriter<byte>();
        var empty = ReadOnlySequence<byte>.Empty;
        Assert.Throws<ArgumentException>(() => PublishEncoder.Write(writer, ProtocolVersion.V311, "t"u8, empty, QualityOfService.AtMostOnce, false, true, 0, null));
        Assert.Throws<ArgumentException>(() => PublishEncoder.Write(writer, ProtocolVersion.V311, "t"u8, empty, QualityOfService.AtLeastOnce, false, false, 0, null));
        Assert.Throws<ArgumentException>(() => PublishEncoder.Write(writer, ProtocolVersion.V311, ""u8, empty, QualityOfService.AtMostOnce, false, false, 0, null));
        // An empty topic is fine in 5.0 with a Topic Alias, and only there.
        PublishEncoder.Write(writer, ProtocolVersion.V500, ""u8, empty, QualityOfService.AtMostOnce, false, false, 0, new MqttProperties { TopicAlias = 1 });
        Assert.Equal("3006000003230001", ToHex(writer.WrittenSpan));
        Assert.Throws<ArgumentException>(() => PublishEncoder.Write(writer, ProtocolVersion.V311, ""u8, empty, QualityOfService.AtMostOnce, false, false, 0, new MqttProperties { TopicAlias = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => PublishEncoder.GetSize(ProtocolVersion.V311, 1, FrameScanner.MaxRemainingLength, QualityOfService.AtMostOnce, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => PublishEncoder.GetSize(ProtocolVersion.Unknown, 1, 1, QualityOfService.AtMostOnce, null));
    }

    [Fact]
    public void Maximum_remaining_length_is_accepted()
    {
        // 2 + 1 (topic) + payload = 268,435,455 exactly.
        var size = PublishEncoder.GetSize(ProtocolVersion.V311, 1, FrameScanner.MaxRemainingLength - 3, QualityOfService.AtMostOnce, null);
        Assert.Equal(1 + 4 + FrameScanner.MaxRemainingLength, size);
    }
}
