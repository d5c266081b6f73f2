using System.Buffers;
using Starling.Protocol;

namespace Starling.Client;

/// <summary>The read loop (one per connection) and the keep-alive loop.</summary>
public sealed partial class MqttClient
{
    /// <summary>Inbound QoS 2 packet ids between PUBREC and PUBREL: a PUBLISH resent with one of them is not delivered twice.</summary>
    private readonly HashSet<ushort> _inboundQoS2 = [];

    /// <summary>Topic aliases the server set toward this client (v5, when TopicAliasMaximum was offered).</summary>
    private readonly Dictionary<ushort, string> _inboundAliases = [];

    private async Task ReadLoopAsync(SocketTransport transport)
    {
        var input = transport.Input;
        MqttDisconnectInfo? info = null;
        try
        {
            while (info is null)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (info is null && TryReadFrame(ref buffer, out var packet))
                    {
                        _trace?.Invoke(packet, false);
                        info = await HandlePacketAsync(packet).ConfigureAwait(false);
                    }
                    if (info is null && (result.IsCompleted || result.IsCanceled))
                    {
                        info = new MqttDisconnectInfo(MqttDisconnectSource.Server, null, null, null,
                            buffer.IsEmpty ? "the server closed the connection" : "the server closed the connection in the middle of a packet");
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (MqttProtocolException ex)
        {
            info = new MqttDisconnectInfo(MqttDisconnectSource.Error, ex.ReasonCode, null, ex,
                $"protocol error in what the server sent: {ex.Message} ({ReasonCodes.Format(ex.ReasonCode)})");
            if (_version == ProtocolVersion.V500 && Volatile.Read(ref _state) == StateConnected)
            {
                await TrySendDisconnectAsync(ex.ReasonCode).ConfigureAwait(false);
            }
        }
        catch (MqttClientException ex)
        {
            info = new MqttDisconnectInfo(MqttDisconnectSource.Error, null, null, ex.InnerException ?? ex, ex.Message);
        }
        catch (Exception ex)
        {
            info = new MqttDisconnectInfo(MqttDisconnectSource.Error, null, null, ex, $"connection lost: {ex.Message}");
        }
        await CloseAsync(info).ConfigureAwait(false);
    }

    private bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out MqttPacket packet)
    {
        packet = null!;
        var status = FrameScanner.TryReadHeader(buffer, _maxInboundPacketSize, out var header, out var error);
        if (status == OperationStatus.NeedMoreData)
        {
            return false;
        }
        if (status != OperationStatus.Done)
        {
            throw new MqttProtocolException(error, error == ReasonCode.PacketTooLarge
                ? $"the server sent a packet larger than the {_maxInboundPacketSize} bytes this client accepts"
                : "malformed fixed header");
        }
        if (buffer.Length < header.TotalLength)
        {
            return false;
        }
        packet = PacketDecoder.Decode(header, buffer.Slice(header.HeaderLength, header.RemainingLength), _version);
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    /// <summary>Handles one inbound packet; returns how the connection ends when this packet ends it.</summary>
    private async ValueTask<MqttDisconnectInfo?> HandlePacketAsync(MqttPacket packet)
    {
        switch (packet)
        {
            case PublishPacket publish:
                await HandlePublishAsync(publish).ConfigureAwait(false);
                return null;

            case PubAckPacket { Type: PacketType.PubAck } ack:
                _pending.Take(ack.PacketId, PacketType.PubAck)?.TrySetResult(ack);
                return null;

            case PubAckPacket { Type: PacketType.PubRec } rec:
                if (ReasonCodes.IsError(rec.ReasonCode))
                {
                    // The flow ends at an error PUBREC (v5): the result is its reason code.
                    _pending.Take(rec.PacketId, PacketType.PubComp)?.TrySetResult(rec);
                    return null;
                }
                var known = _pending.IsWaiting(rec.PacketId, PacketType.PubComp);
                await SendAckAsync(PacketType.PubRel, rec.PacketId, known ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound).ConfigureAwait(false);
                return null;

            case PubAckPacket { Type: PacketType.PubComp } comp:
                _pending.Take(comp.PacketId, PacketType.PubComp)?.TrySetResult(comp);
                return null;

            case PubAckPacket { Type: PacketType.PubRel } rel:
                var wasPending = _inboundQoS2.Remove(rel.PacketId);
                await SendAckAsync(PacketType.PubComp, rel.PacketId, wasPending ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound).ConfigureAwait(false);
                return null;

            case SubAckPacket subAck:
                _pending.Take(subAck.PacketId, PacketType.SubAck)?.TrySetResult(subAck);
                return null;

            case UnsubAckPacket unsubAck:
                _pending.Take(unsubAck.PacketId, PacketType.UnsubAck)?.TrySetResult(unsubAck);
                return null;

            case PingRespPacket:
                Volatile.Write(ref _pingSentTicks, 0);
                return null;

            case ConnAckPacket connAck:
                if (_connAck is null || _connAck.Task.IsCompleted)
                {
                    throw new MqttProtocolException(ReasonCode.ProtocolError, "a second CONNACK");
                }
                _connAck.TrySetResult(connAck);
                return ReasonCodes.IsError(connAck.ReasonCode)
                    ? new MqttDisconnectInfo(MqttDisconnectSource.Server, connAck.ReasonCode, connAck.Properties?.ReasonString, null,
                        $"connection refused: {ReasonCodes.Format(connAck.ReasonCode)}")
                    : null;

            case DisconnectPacket disconnect:
                var reasonString = disconnect.Properties?.ReasonString;
                return new MqttDisconnectInfo(MqttDisconnectSource.Server, disconnect.ReasonCode, reasonString, null,
                    $"the server sent DISCONNECT: {ReasonCodes.Format(disconnect.ReasonCode, PacketType.Disconnect)}" + (reasonString is null ? "" : $", \"{reasonString}\""));

            case AuthPacket:
                throw new MqttProtocolException(ReasonCode.ProtocolError, "AUTH is not supported by this client");

            default:
                throw new MqttProtocolException(ReasonCode.ProtocolError, $"a server must not send {packet.Type}");
        }
    }

    private async ValueTask HandlePublishAsync(PublishPacket publish)
    {
        var topic = publish.Topic;
        if (_version == ProtocolVersion.V500 && publish.Properties?.TopicAlias is { } alias)
        {
            if (topic.Length > 0)
            {
                _inboundAliases[alias] = topic;
            }
            else if (!_inboundAliases.TryGetValue(alias, out topic!))
            {
                throw new MqttProtocolException(ReasonCode.TopicAliasInvalid, $"PUBLISH with unknown topic alias {alias}");
            }
        }

        switch (publish.QoS)
        {
            case QualityOfService.AtMostOnce:
                Deliver(publish, topic);
                break;
            case QualityOfService.AtLeastOnce:
                Deliver(publish, topic);
                await SendAckAsync(PacketType.PubAck, publish.PacketId, ReasonCode.Success).ConfigureAwait(false);
                break;
            default:
                // Delivered once per flow: a resent PUBLISH (same id, before PUBREL) only gets its PUBREC again.
                if (_inboundQoS2.Add(publish.PacketId))
                {
                    Deliver(publish, topic);
                }
                await SendAckAsync(PacketType.PubRec, publish.PacketId, ReasonCode.Success).ConfigureAwait(false);
                break;
        }
    }

    private void Deliver(PublishPacket publish, string topic)
        // The payload is a slice of the receive buffer: copy it now.
        => _messages.Writer.TryWrite(new ReceivedMessage(topic, publish.Payload.ToArray(), publish.QoS, publish.Retain, publish.Dup, publish.Properties));

    private ValueTask SendAckAsync(PacketType type, ushort packetId, ReasonCode reasonCode)
        => SendPacketAsync(new PubAckPacket(type, packetId, _version == ProtocolVersion.V500 ? reasonCode : ReasonCode.Success), CancellationToken.None);

    private async Task TrySendDisconnectAsync(ReasonCode reasonCode)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await SendPacketAsync(new DisconnectPacket { ReasonCode = reasonCode }, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Best effort: the connection is being closed anyway.
        }
    }

    /// <summary>
    /// Sends PINGREQ when nothing was sent for a whole keep-alive period, and ends the connection when a PINGREQ goes
    /// unanswered for one period.
    /// </summary>
    private async Task KeepAliveLoopAsync(int keepAliveSeconds)
    {
        var period = keepAliveSeconds * 1000L;
        var cancellationToken = _closing.Token;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = Environment.TickCount64;
                var pingSent = Volatile.Read(ref _pingSentTicks);
                if (pingSent != 0 && now - pingSent >= period)
                {
                    await CloseAsync(new MqttDisconnectInfo(MqttDisconnectSource.Error, ReasonCode.KeepAliveTimeout, null, null,
                        $"no PINGRESP within the keep-alive of {keepAliveSeconds} s: the connection is dead")).ConfigureAwait(false);
                    return;
                }
                var idle = now - Volatile.Read(ref _lastSendTicks);
                if (idle >= period)
                {
                    if (pingSent == 0)
                    {
                        Volatile.Write(ref _pingSentTicks, now);
                    }
                    await SendPacketAsync(PingReqPacket.Instance, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                var wait = period - idle;
                if (pingSent != 0)
                {
                    wait = Math.Min(wait, pingSent + period - now);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(wait, 10)), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (MqttClientException)
        {
            // The connection ended; the read loop reports why.
        }
    }
}
