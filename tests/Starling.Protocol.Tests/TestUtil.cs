using System.Buffers;

namespace Starling.Protocol.Tests;

/// <summary>Helpers: hex, encode to bytes, frame decode, multi-segment sequences.</summary>
internal static class TestUtil
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    public static byte[] Encode(MqttPacket packet, ProtocolVersion version)
    {
        var writer = new ArrayBufferWriter<byte>();
        PacketEncoder.Write(writer, packet, version);
        Assert.Equal(PacketEncoder.GetSize(packet, version), writer.WrittenCount);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Scans the fixed header then decodes the body; the frame must be exactly one packet.</summary>
    public static MqttPacket Decode(byte[] frame, ProtocolVersion version) => Decode(new ReadOnlySequence<byte>(frame), version);

    public static MqttPacket Decode(ReadOnlySequence<byte> frame, ProtocolVersion version)
    {
        var status = FrameScanner.TryReadHeader(frame, int.MaxValue, out var header, out var error);
        if (status == OperationStatus.InvalidData)
        {
            throw new MqttProtocolException(error, "frame scanner rejected the header");
        }
        Assert.Equal(OperationStatus.Done, status);
        Assert.Equal(frame.Length, header.TotalLength);
        return PacketDecoder.Decode(header, frame.Slice(header.HeaderLength), version);
    }

    /// <summary>
    /// A PUBLISH or PUBACK/PUBREC/PUBREL/PUBCOMP frame through the broker's object-free decoders
    /// (<see cref="PacketDecoder.DecodePublish"/>, <see cref="PacketDecoder.DecodePubAck"/>), as the packet it describes,
    /// so tests compare both decoders with <see cref="PacketDump"/>. <paramref name="topic"/> is the cached topic
    /// handed in and, on return, the one the view named.
    /// </summary>
    public static MqttPacket DecodeWithView(ReadOnlySequence<byte> frame, ProtocolVersion version, ref TopicName? topic)
    {
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(frame, int.MaxValue, out var header, out _));
        var body = frame.Slice(header.HeaderLength);
        if (header.Type != PacketType.Publish)
        {
            var ack = PacketDecoder.DecodePubAck(header, body, version);
            return new PubAckPacket(ack.Type, ack.PacketId, ack.ReasonCode) { Properties = ack.Properties };
        }
        var view = PacketDecoder.DecodePublish(header, body, version, topic);
        topic = view.Topic ?? topic;
        return new PublishPacket
        {
            Topic = view.Topic?.Name ?? "",
            QoS = view.QoS,
            Dup = view.Dup,
            Retain = view.Retain,
            PacketId = view.PacketId,
            Properties = view.Properties,
            Payload = view.Payload,
        };
    }

    /// <summary>A sequence of several segments cut at the given offsets (each segment its own array).</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var bounds = cuts.Where(c => c > 0 && c < data.Length).Distinct().Order().Append(data.Length).ToArray();
        Segment? first = null, last = null;
        var start = 0;
        foreach (var end in bounds)
        {
            var chunk = data.AsMemory(start, end - start).ToArray();
            if (first is null)
            {
                first = last = new Segment(chunk, 0);
            }
            else
            {
                last = last!.Append(chunk);
            }
            start = end;
        }
        if (first is null)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        return new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    /// <summary>A sequence of one-byte segments.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] data) => Split(data, Enumerable.Range(1, Math.Max(0, data.Length - 1)).ToArray());

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
