using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

public class FrameScannerTests
{
    [Theory]
    [InlineData(0, "00")]
    [InlineData(127, "7F")]
    [InlineData(128, "8001")]
    [InlineData(16_383, "FF7F")]
    [InlineData(16_384, "808001")]
    [InlineData(2_097_151, "FFFF7F")]
    [InlineData(2_097_152, "80808001")]
    [InlineData(268_435_455, "FFFFFF7F")]
    public void Remaining_length_boundaries_2_2_3(int value, string encoded)
    {
        var varint = Hex(encoded);
        var buffer = new byte[5];
        Assert.Equal(varint.Length, VariableByteInteger.Write(buffer, value));
        Assert.Equal(encoded, ToHex(buffer.AsSpan(0, varint.Length)));
        Assert.Equal(varint.Length, VariableByteInteger.GetSize(value));

        var header = new byte[] { 0x30 }.Concat(varint).ToArray();
        var status = FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(header), int.MaxValue, out var h, out var error);
        Assert.Equal(OperationStatus.Done, status);
        Assert.Equal(ReasonCode.Success, error);
        Assert.Equal(value, h.RemainingLength);
        Assert.Equal(1 + varint.Length, h.HeaderLength);
        Assert.Equal(PacketType.Publish, h.Type);

        // Every prefix of the header is incomplete.
        for (var i = 0; i < header.Length; i++)
        {
            Assert.Equal(OperationStatus.NeedMoreData,
                FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(header, 0, i), int.MaxValue, out _, out _));
        }
        // Split across segments at every offset: same answer.
        for (var cut = 1; cut < header.Length; cut++)
        {
            Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(Split(header, cut), int.MaxValue, out var hs, out _));
            Assert.Equal(h, hs);
        }
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(OneBytePerSegment(header), int.MaxValue, out var h1, out _));
        Assert.Equal(h, h1);
    }

    [Theory]
    [InlineData("30 FF FF FF FF 01")] // fifth length byte
    [InlineData("30 FF FF FF 80")] // continuation on the fourth byte
    [InlineData("30 80 00")] // 0 in two bytes: not minimal
    [InlineData("30 80 80 00")]
    [InlineData("30 FF 80 80 00")]
    [InlineData("30 80 80 80 00")]
    public void Malformed_remaining_length_is_MalformedPacket_1_5_5(string hex)
    {
        var status = FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(Hex(hex)), int.MaxValue, out _, out var error);
        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Equal(ReasonCode.MalformedPacket, error);
        Assert.Equal(OperationStatus.InvalidData, FrameScanner.TryReadHeader(OneBytePerSegment(Hex(hex)), int.MaxValue, out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("30 80")]
    [InlineData("30 FF FF")]
    [InlineData("30 FF FF FF")]
    public void Incomplete_header_needs_more_data(string hex)
    {
        Assert.Equal(OperationStatus.NeedMoreData, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(Hex(hex)), int.MaxValue, out _, out var error));
        Assert.Equal(ReasonCode.Success, error);
    }

    [Theory]
    [InlineData("00")]
    [InlineData("00 00")]
    [InlineData("0F 02 00 01")]
    public void Packet_type_0_is_malformed(string hex)
    {
        Assert.Equal(OperationStatus.InvalidData, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(Hex(hex)), int.MaxValue, out _, out var error));
        Assert.Equal(ReasonCode.MalformedPacket, error);
    }

    [Fact]
    public void Packet_too_large_is_decided_from_the_header_alone()
    {
        // 0x30 0x7F: total length 2 + 127 = 129, and no body bytes are buffered at all.
        var header = new ReadOnlySequence<byte>(Hex("30 7F"));
        Assert.Equal(OperationStatus.InvalidData, FrameScanner.TryReadHeader(header, 128, out var h, out var error));
        Assert.Equal(ReasonCode.PacketTooLarge, error);
        Assert.Equal(129, h.TotalLength);
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(header, 129, out h, out error));
        Assert.Equal(ReasonCode.Success, error);

        var huge = new ReadOnlySequence<byte>(Hex("30 FF FF FF 7F"));
        Assert.Equal(OperationStatus.InvalidData, FrameScanner.TryReadHeader(huge, 1024 * 1024, out _, out error));
        Assert.Equal(ReasonCode.PacketTooLarge, error);
    }

    [Fact]
    public void Header_reads_only_the_header_of_a_longer_buffer()
    {
        var buffer = new ReadOnlySequence<byte>(Hex("82 06 00 01 00 01 61 00 C0 00"));
        Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(buffer, 100, out var h, out _));
        Assert.Equal(new FrameHeader(0x82, 6, 2), h);
        Assert.Equal(2, h.Flags);
        Assert.Equal(8, h.TotalLength);
    }

    [Fact]
    public void Scanner_does_not_allocate()
    {
        var single = new ReadOnlySequence<byte>(Hex("30 FF FF 7F 00"));
        var multi = OneBytePerSegment(Hex("30 FF FF 7F 00"));
        Assert.Equal(0, AllocationMeter.MinBytes(() =>
        {
            FrameScanner.TryReadHeader(single, int.MaxValue, out _, out _);
            FrameScanner.TryReadHeader(multi, int.MaxValue, out _, out _);
        }));
    }
}
