using System.Buffers;
using BenchmarkDotNet.Attributes;
using Starling.Protocol;

namespace Starling.Benchmarks;

/// <summary>The per-message codec steps of the broker's PUBLISH path (MQTT 3.1.1, 64-byte payload).</summary>
public class HotPathBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private readonly byte[] _topicUtf8 = "sensors/building-7/floor-3/temperature"u8.ToArray();
    private readonly ReadOnlySequence<byte> _payload = new(new byte[64]);
    private ReadOnlySequence<byte> _frame;
    private ReadOnlySequence<byte> _multiSegmentFrame;
    private TopicName? _lastTopic;
    private readonly ReadOnlySequence<byte> _pubAck = new([0x40, 2, 0, 42]);

    [GlobalSetup]
    public void Setup()
    {
        var writer = new ArrayBufferWriter<byte>();
        PublishEncoder.Write(writer, ProtocolVersion.V311, _topicUtf8, _payload, QualityOfService.AtLeastOnce, false, false, 42, null);
        var bytes = writer.WrittenSpan.ToArray();
        _frame = new ReadOnlySequence<byte>(bytes);
        _multiSegmentFrame = Segments.Split(bytes, 3);
    }

    /// <summary>Fixed header of a buffered frame (the read loop's first step).</summary>
    [Benchmark]
    public int ScanHeader()
    {
        FrameScanner.TryReadHeader(_frame, int.MaxValue, out var header, out _);
        return header.TotalLength;
    }

    /// <summary>Fixed header split over segments (a pipe buffer boundary inside the header).</summary>
    [Benchmark]
    public int ScanHeaderSplit()
    {
        FrameScanner.TryReadHeader(_multiSegmentFrame, int.MaxValue, out var header, out _);
        return header.TotalLength;
    }

    /// <summary>Decode of an inbound PUBLISH into the packet view (topic string + packet object).</summary>
    [Benchmark]
    public MqttPacket DecodePublish()
    {
        FrameScanner.TryReadHeader(_frame, int.MaxValue, out var header, out _);
        return PacketDecoder.Decode(header, _frame.Slice(header.HeaderLength, header.RemainingLength), ProtocolVersion.V311);
    }

    /// <summary>
    /// The broker's decode of an inbound PUBLISH (<see cref="PacketDecoder.DecodePublish"/>): no packet object, and the
    /// topic is the connection's cached <see cref="TopicName"/> because the publisher repeats it.
    /// </summary>
    [Benchmark]
    public int DecodePublishView()
    {
        FrameScanner.TryReadHeader(_frame, int.MaxValue, out var header, out _);
        var view = PacketDecoder.DecodePublish(header, _frame.Slice(header.HeaderLength, header.RemainingLength), ProtocolVersion.V311, _lastTopic);
        _lastTopic = view.Topic;
        return view.PacketId;
    }

    /// <summary>The broker's decode of a subscriber's PUBACK (<see cref="PacketDecoder.DecodePubAck"/>): a struct.</summary>
    [Benchmark]
    public int DecodePubAckView()
    {
        FrameScanner.TryReadHeader(_pubAck, int.MaxValue, out var header, out _);
        return PacketDecoder.DecodePubAck(header, _pubAck.Slice(header.HeaderLength, header.RemainingLength), ProtocolVersion.V311).PacketId;
    }

    /// <summary>Per-subscriber encode: PUBLISH from a pre-encoded topic and the shared payload.</summary>
    [Benchmark]
    public int PublishEncoderWrite()
    {
        _output.ResetWrittenCount();
        PublishEncoder.Write(_output, ProtocolVersion.V311, _topicUtf8, _payload, QualityOfService.AtLeastOnce, retain: false, dup: false, 42, null);
        return _output.WrittenCount;
    }
}

/// <summary>Builds a multi-segment sequence (for split-buffer cases).</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] bytes, int firstLength)
    {
        var first = new Segments(bytes.AsMemory(0, firstLength), 0);
        var second = new Segments(bytes.AsMemory(firstLength), firstLength);
        first.Next = second;
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }
}
