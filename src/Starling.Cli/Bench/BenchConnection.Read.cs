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
/// The read side: the read loop scans the frames in the receive buffer in place, counts deliveries (with their latency)
/// and completes acks and requests; PUBACK/PUBREC answers are appended for the write loop.
/// </summary>
internal sealed partial class BenchConnection
{
    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        var reason = "the server closed the connection";
        try
        {
            while (true)
            {
                if (_received == _receive.Length)
                {
                    Array.Resize(ref _receive, _receive.Length * 2);
                }
                var n = await _socket.ReceiveAsync(_receive.AsMemory(_received), SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                _received += n;
                var consumed = ProcessFrames();
                if (consumed > 0)
                {
                    _receive.AsSpan(consumed, _received - consumed).CopyTo(_receive);
                    _received -= consumed;
                }
                if (_run.Ready)
                {
                    BenchNap.AfterBusyRead(_run.Settings.BatchMicroseconds);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException or MqttProtocolException)
        {
            reason = ex is MqttProtocolException ? $"protocol error: {ex.Message}" : $"receive failed: {ex.Message}";
        }
        Lose(reason);
    }

    private void Lose(string reason)
    {
        if (!_closing && LostReason is null)
        {
            LostReason = reason;
            _run.OnConnectionLost(this);
        }
        Volatile.Read(ref _awaiting)?.TrySetException(new IOException(reason));
        _closing = true;
        Wake();
    }

    /// <summary>Handles every complete frame in the receive buffer; returns the bytes consumed.</summary>
    private int ProcessFrames()
    {
        var offset = 0;
        var appended = false;
        var completed = 0;
        var now = 0L;
        while (offset < _received)
        {
            var sequence = new ReadOnlySequence<byte>(_receive, offset, _received - offset);
            var status = FrameScanner.TryReadHeader(sequence, int.MaxValue, out var header, out _);
            if (status == OperationStatus.InvalidData)
            {
                throw new MqttProtocolException(ReasonCode.MalformedPacket, "malformed fixed header");
            }
            if (status != OperationStatus.Done || header.TotalLength > _received - offset)
            {
                if (status == OperationStatus.Done && header.TotalLength > _receive.Length)
                {
                    Array.Resize(ref _receive, header.TotalLength);
                }
                break;
            }
            var body = _receive.AsSpan(offset + header.HeaderLength, header.RemainingLength);
            switch (header.Type)
            {
                case PacketType.Publish:
                    if (now == 0)
                    {
                        now = Stopwatch.GetTimestamp();
                    }
                    appended |= OnPublish(header.Flags, body, now);
                    break;
                case PacketType.PubAck or PacketType.PubComp:
                    if (body.Length > 2 && body[2] >= 0x80)
                    {
                        Errors++;
                    }
                    completed++;
                    break;
                case PacketType.PubRec:
                    if (body.Length > 2 && body[2] >= 0x80)
                    {
                        Errors++;
                        completed++;
                    }
                    else
                    {
                        AppendAck(0x62, body);
                        appended = true;
                    }
                    break;
                case PacketType.PubRel:
                    AppendAck(0x70, body);
                    appended = true;
                    break;
                case PacketType.PingResp:
                    break;
                case PacketType.ConnAck or PacketType.SubAck or PacketType.UnsubAck:
                    var packet = PacketDecoder.Decode(header, sequence.Slice(header.HeaderLength, header.RemainingLength), _version);
                    Volatile.Read(ref _awaiting)?.TrySetResult(packet);
                    break;
                case PacketType.Disconnect:
                    var code = body.Length > 0 ? body[0] : 0;
                    throw new IOException($"the server sent DISCONNECT 0x{code:X2}");
                default:
                    throw new MqttProtocolException(ReasonCode.ProtocolError, $"unexpected {header.Type}");
            }
            offset += header.TotalLength;
        }
        if (completed > 0)
        {
            Interlocked.Add(ref _inflight, -completed);
            Completed += completed;
            if (_run.Settings.MaxRate && _run.Producing)
            {
                appended |= Publish(completed, wake: false) > 0;
            }
        }
        if (appended)
        {
            Wake();
        }
        return offset;
    }

    /// <summary>Counts one delivery, records its latency, queues PUBACK/PUBREC; true when something was queued.</summary>
    private bool OnPublish(byte flags, ReadOnlySpan<byte> body, long now)
    {
        var qos = (flags >> 1) & 0x03;
        var position = 2 + BinaryPrimitives.ReadUInt16BigEndian(body);
        var packetId = body.Slice(position, qos == 0 ? 0 : 2);
        position += packetId.Length;
        if (_version == ProtocolVersion.V500)
        {
            var status = VariableByteInteger.TryRead(body[position..], out var propertiesLength, out var lengthBytes);
            if (status != OperationStatus.Done)
            {
                throw new MqttProtocolException(ReasonCode.MalformedPacket, "bad property length");
            }
            position += lengthBytes + propertiesLength;
        }
        var payload = body[position..];
        Received++;
        if (Latency is { } latency && _run.Measuring && payload.Length >= 8)
        {
            var sentAt = BinaryPrimitives.ReadInt64LittleEndian(payload);
            latency.Record((now - sentAt) * 1_000_000 / Stopwatch.Frequency);
        }
        if (qos == 0)
        {
            return false;
        }
        AppendAck(qos == 1 ? (byte)0x40 : (byte)0x50, packetId);
        return true;
    }

    private void AppendAck(byte first, ReadOnlySpan<byte> packetId)
    {
        lock (_gate)
        {
            EnsureCapacity(ref _pending, _pendingLength, 4);
            var span = _pending.AsSpan(_pendingLength, 4);
            span[0] = first;
            span[1] = 2;
            span[2] = packetId[0];
            span[3] = packetId[1];
            _pendingLength += 4;
        }
    }
}
