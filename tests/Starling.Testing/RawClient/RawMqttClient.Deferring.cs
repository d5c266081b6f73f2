using System.Threading.Channels;

namespace Starling.Testing;

/// <summary>Receives that keep PUBLISH packets arriving before the awaited packet for the next receive.</summary>
public sealed partial class RawMqttClient
{
    /// <summary>
    /// Like <see cref="ExpectAckAsync"/>, but PUBLISH packets that arrive first are kept, in order, for the next
    /// receive: a subscriber's PUBREL may legitimately come after further deliveries.
    /// </summary>
    public async Task<MqttFrame> ExpectAckDeferringPublishesAsync(PacketKind kind, ushort packetId, TimeSpan? timeout = null)
    {
        var wait = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(wait);
        while (true)
        {
            MqttFrame frame;
            try
            {
                frame = await _frames.Reader.ReadAsync(cts.Token);
            }
            catch (ChannelClosedException)
            {
                Assert.Fail($"{Name}: expected {kind}, but the connection was closed ({CloseReason})");
                throw;
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{Name}: no {kind} from the server within {wait.TotalSeconds:0.###} s");
                throw;
            }

            if (frame.Kind == PacketKind.Publish && kind != PacketKind.Publish)
            {
                _deferred.Enqueue(frame);
                continue;
            }

            var expectedHeader = kind == PacketKind.PubRel ? 0x62 : (int)kind << 4;
            Assert.True(frame.Header == expectedHeader, $"{Name}: expected {kind} (header 0x{expectedHeader:X2}), got {frame}");
            Assert.True(frame.Body.Length == 2, $"{Name}: {kind} must have remaining length 2: {frame}");
            Assert.Equal(packetId, frame.PacketId);
            return frame;
        }
    }

    /// <summary>
    /// The next packet that is not a PUBLISH, asserted to be of <paramref name="kind"/>; PUBLISH packets that arrive
    /// first are kept, in order, for the next receive. Used for MQTT 5 acknowledgements, whose length varies.
    /// </summary>
    public async Task<MqttFrame> ExpectDeferringPublishesAsync(PacketKind kind, TimeSpan? timeout = null)
    {
        var wait = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(wait);
        while (true)
        {
            MqttFrame frame;
            try
            {
                frame = await _frames.Reader.ReadAsync(cts.Token);
            }
            catch (ChannelClosedException)
            {
                Assert.Fail($"{Name}: expected {kind}, but the connection was closed ({CloseReason})");
                throw;
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{Name}: no {kind} from the server within {wait.TotalSeconds:0.###} s");
                throw;
            }

            if (frame.Kind == PacketKind.Publish && kind != PacketKind.Publish)
            {
                _deferred.Enqueue(frame);
                continue;
            }

            Assert.True(frame.Kind == kind, $"{Name}: expected {kind}, got {frame}");
            return frame;
        }
    }
}
