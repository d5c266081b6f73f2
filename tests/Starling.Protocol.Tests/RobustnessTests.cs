using System.Buffers;
using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

/// <summary>Random and mutated frames: the decoder may only ever throw <see cref="MqttProtocolException"/>.</summary>
public class RobustnessTests
{
    private static readonly ProtocolVersion[] s_versions = [ProtocolVersion.Unknown, ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500];

    [Fact]
    public void Twenty_thousand_random_and_mutated_frames_only_raise_MqttProtocolException()
    {
        var random = new Random(42);
        var seeds = GoldenBytesTests.Cases.Values.Select(c => Hex(c.Hex)).ToArray();
        int decoded = 0, rejected = 0;
        for (var i = 0; i < 20_000; i++)
        {
            byte first;
            byte[] body;
            if (i % 4 == 0)
            {
                first = (byte)random.Next(256);
                body = RandomBytes(random, random.Next(0, 48));
            }
            else
            {
                var frame = seeds[random.Next(seeds.Length)];
                Assert.Equal(OperationStatus.Done, FrameScanner.TryReadHeader(new ReadOnlySequence<byte>(frame), int.MaxValue, out var fh, out _));
                first = random.Next(4) == 0 ? (byte)(frame[0] ^ (1 << random.Next(8))) : frame[0];
                body = Mutate(random, frame[fh.HeaderLength..]);
            }
            var header = new FrameHeader(first, body.Length, 2);
            foreach (var version in s_versions)
            {
                if (Run(() => PacketDecoder.Decode(header, Segmented(random, body), version), version))
                {
                    decoded++;
                }
                else
                {
                    rejected++;
                }
            }
            // Whole frames through the frame scanner, as the connection loop does, with the length bytes mutated too.
            var lengthBytes = new byte[4];
            var n = VariableByteInteger.Write(lengthBytes, body.Length);
            byte[] whole = Mutate(random, [first, .. lengthBytes.AsSpan(0, n), .. body]);
            var raw = new ReadOnlySequence<byte>(whole);
            if (FrameScanner.TryReadHeader(raw, 1 << 20, out var h, out _) == OperationStatus.Done && h.TotalLength <= whole.Length)
            {
                Run(() => PacketDecoder.Decode(h, raw.Slice(h.HeaderLength, h.RemainingLength), ProtocolVersion.V500), ProtocolVersion.V500);
            }
        }
        // The corpus must exercise both outcomes, or the test proves nothing.
        Assert.True(decoded > 1_000, $"only {decoded} frames decoded");
        Assert.True(rejected > 10_000, $"only {rejected} frames rejected");
    }

    /// <summary>True when decoded; false when rejected with MqttProtocolException; any other exception fails the test.</summary>
    private static bool Run(Func<MqttPacket> decode, ProtocolVersion version)
    {
        MqttPacket packet;
        try
        {
            packet = decode();
        }
        catch (MqttProtocolException)
        {
            return false;
        }
        // Whatever decodes must encode and decode back to the same thing.
        var writeVersion = packet is ConnectPacket c ? c.ProtocolVersion : version;
        var bytes = Encode(packet, writeVersion);
        var again = Decode(bytes, packet is ConnectPacket ? ProtocolVersion.Unknown : writeVersion);
        Assert.Equal(PacketDump.Describe(packet), PacketDump.Describe(again));
        return true;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A copy of <paramref name="bytes"/> with zero to three random edits (replace, bit flip, delete, insert).</summary>
    private static byte[] Mutate(Random random, byte[] bytes)
    {
        var list = bytes.ToList();
        var edits = random.Next(0, 4);
        for (var e = 0; e < edits; e++)
        {
            switch (random.Next(4))
            {
                case 0 when list.Count > 0:
                    list[random.Next(list.Count)] = (byte)random.Next(256);
                    break;
                case 1 when list.Count > 0:
                    list[random.Next(list.Count)] ^= (byte)(1 << random.Next(8));
                    break;
                case 2 when list.Count > 0:
                    list.RemoveAt(random.Next(list.Count));
                    break;
                default:
                    list.Insert(random.Next(list.Count + 1), (byte)random.Next(256));
                    break;
            }
        }
        return [.. list];
    }

    private static ReadOnlySequence<byte> Segmented(Random random, byte[] body)
        => body.Length > 1 && random.Next(2) == 0 ? Split(body, random.Next(1, body.Length), random.Next(1, body.Length)) : new ReadOnlySequence<byte>(body);
}
