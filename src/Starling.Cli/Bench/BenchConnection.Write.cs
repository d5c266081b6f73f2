using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>
/// The write side: bytes are appended to the pending buffer under the gate, and the write loop swaps it with the spare
/// buffer and sends it in one system call, so any number of appends between two sends cost one send.
/// </summary>
internal sealed partial class BenchConnection
{
    private void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            AppendLocked(bytes);
        }
    }

    private void AppendLocked(ReadOnlySpan<byte> bytes)
    {
        EnsureCapacity(ref _pending, _pendingLength, bytes.Length);
        bytes.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += bytes.Length;
    }

    private void AppendPublishLocked(ref byte[] buffer, ref int length, long timestamp)
    {
        var template = _template!;
        EnsureCapacity(ref buffer, length, template.Length);
        var packet = buffer.AsSpan(length, template.Length);
        template.CopyTo(packet);
        if (_packetIdOffset >= 0)
        {
            _packetId = _packetId == ushort.MaxValue ? (ushort)1 : (ushort)(_packetId + 1);
            BinaryPrimitives.WriteUInt16BigEndian(packet[_packetIdOffset..], _packetId);
        }
        if (template.Length - _payloadOffset >= 8)
        {
            BinaryPrimitives.WriteInt64LittleEndian(packet[_payloadOffset..], timestamp);
        }
        length += template.Length;
        Sent++;
    }

    private static void EnsureCapacity(ref byte[] buffer, int length, int more)
    {
        if (buffer.Length - length < more)
        {
            Array.Resize(ref buffer, Math.Max(buffer.Length * 2, length + more));
        }
    }

    private async Task WriteLoopAsync()
    {
        await Task.Yield();
        try
        {
            var qos0MaxRate = _run.Settings.Mode == BenchMode.Pub && _run.Settings.MaxRate && _run.Settings.QoS == QualityOfService.AtMostOnce;
            while (true)
            {
                byte[] buffer;
                int length;
                lock (_gate)
                {
                    buffer = _pending;
                    length = _pendingLength;
                    _pending = _spare;
                    _pendingLength = 0;
                }
                _spare = buffer;
                if (qos0MaxRate && _run.Producing && !_closing && _template is not null)
                {
                    // Max-rate QoS 0: this loop is the producer, a batch per system call, so TCP back-pressure paces it.
                    var batch = (int)Math.Min(Math.Clamp(16 * 1024 / _template.Length, 1, 256), Quota - Sent);
                    var timestamp = Stopwatch.GetTimestamp();
                    lock (_gate)
                    {
                        for (var i = 0; i < batch; i++)
                        {
                            AppendPublishLocked(ref buffer, ref length, timestamp);
                        }
                    }
                    _spare = buffer;
                }
                if (length == 0)
                {
                    if (_closing)
                    {
                        return;
                    }
                    await _wake.Reader.ReadAsync().ConfigureAwait(false);
                    continue;
                }
                var sent = 0;
                while (sent < length)
                {
                    sent += await _socket.SendAsync(buffer.AsMemory(sent, length - sent), SocketFlags.None).ConfigureAwait(false);
                }
                Volatile.Write(ref LastSendTicks, Environment.TickCount64);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or ChannelClosedException)
        {
            Lose($"send failed: {ex.Message}");
        }
    }
}
