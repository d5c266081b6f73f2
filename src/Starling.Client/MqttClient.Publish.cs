using System.Buffers;
using System.Text;
using Starling.Protocol;

namespace Starling.Client;

/// <summary>PUBLISH: validation, the QoS 0 and QoS 1/2 flows (with the server's Receive Maximum) and encoding.</summary>
public sealed partial class MqttClient
{
    /// <summary>
    /// Publishes one message. QoS 0 completes once the packet is handed to the socket; QoS 1 when the PUBACK arrives,
    /// QoS 2 when the PUBCOMP arrives (or an error PUBREC). Returns the reason code of that acknowledgement (always
    /// Success for 3.1.1, where acks carry none). The payload is copied before this returns or awaits.
    /// </summary>
    /// <exception cref="MqttClientException">Not connected, or the connection ended before the flow completed.</exception>
    public ValueTask<ReasonCode> PublishAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos = QualityOfService.AtMostOnce,
        bool retain = false, MqttProperties? properties = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!TopicValidator.IsValidTopicName(topic) && !(topic.Length == 0 && _version == ProtocolVersion.V500 && properties?.TopicAlias is not null))
        {
            throw new ArgumentException($"'{topic}' is not a valid topic name: it must be non-empty and contain no '+' or '#'.", nameof(topic));
        }
        if (qos > QualityOfService.ExactlyOnce)
        {
            throw new ArgumentOutOfRangeException(nameof(qos), qos, "QoS 0, 1 or 2");
        }
        EnsureConnected();
        if (_version != ProtocolVersion.V500)
        {
            properties = null;
        }
        return qos == QualityOfService.AtMostOnce
            ? PublishQoS0Async(topic, payload, retain, properties, cancellationToken)
            : PublishWithAckAsync(topic, payload, qos, retain, properties, cancellationToken);
    }

    private async ValueTask<ReasonCode> PublishQoS0Async(string topic, ReadOnlyMemory<byte> payload, bool retain, MqttProperties? properties,
        CancellationToken cancellationToken)
    {
        await SendPublishAsync(topic, payload, QualityOfService.AtMostOnce, retain, 0, properties, cancellationToken).ConfigureAwait(false);
        return ReasonCode.Success;
    }

    private async ValueTask<ReasonCode> PublishWithAckAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain,
        MqttProperties? properties, CancellationToken cancellationToken)
    {
        // The server's Receive Maximum bounds our unacknowledged QoS 1/2 publishes (v5; 3.1.1 has no such limit).
        var quota = _sendQuota;
        if (quota is not null)
        {
            await quota.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        try
        {
            var request = _pending.Rent(qos == QualityOfService.AtLeastOnce ? PacketType.PubAck : PacketType.PubComp);
            var packetId = Register(request);
            try
            {
                await SendPublishAsync(topic, payload, qos, retain, packetId, properties, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                _pending.Unregister(packetId, request);
                throw;
            }
            var ack = await WaitForAckAsync(request, cancellationToken).ConfigureAwait(false);
            return ack is PubAckPacket pubAck ? pubAck.ReasonCode : ReasonCode.UnspecifiedError;
        }
        finally
        {
            quota?.Release();
        }
    }

    private async ValueTask SendPublishAsync(string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain, ushort packetId,
        MqttProperties? properties, CancellationToken cancellationToken)
    {
        var transport = _transport ?? throw NotConnected();
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_outputCompleted)
            {
                throw NotConnected();
            }
            WritePublish(transport, topic, payload, qos, retain, packetId, properties);
            await FlushLockedAsync(transport).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void WritePublish(SocketTransport transport, string topic, ReadOnlyMemory<byte> payload, QualityOfService qos, bool retain,
        ushort packetId, MqttProperties? properties)
    {
        var maxBytes = Encoding.UTF8.GetMaxByteCount(topic.Length);
        byte[]? rented = null;
        Span<byte> topicBuffer = maxBytes <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(maxBytes));
        try
        {
            var topicLength = Encoding.UTF8.GetBytes(topic, topicBuffer);
            var size = PublishEncoder.GetSize(_version, topicLength, payload.Length, qos, properties);
            if (size > _serverMaxPacketSize)
            {
                throw new MqttClientException(
                    $"The PUBLISH to '{topic}' is {size} bytes; the server accepts at most {_serverMaxPacketSize}.", ReasonCode.PacketTooLarge);
            }
            if (_trace is { } trace)
            {
                trace(new PublishPacket
                {
                    Topic = topic,
                    Payload = new ReadOnlySequence<byte>(payload),
                    QoS = qos,
                    Retain = retain,
                    PacketId = packetId,
                    Properties = properties,
                }, true);
            }
            PublishEncoder.Write(transport.Output, _version, topicBuffer[..topicLength], new ReadOnlySequence<byte>(payload), qos, retain,
                dup: false, packetId, properties);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
