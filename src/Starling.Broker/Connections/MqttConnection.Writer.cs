using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker;

internal sealed partial class MqttConnection : IThreadPoolWorkItem, ISessionOwner
{
    private const int FlushThreshold = 64 * 1024;

    // The client's Maximum Packet Size (v5 CONNECT); uint.MaxValue when it set none.
    private uint _clientMaxPacketSize = uint.MaxValue;

    // Outbound topic aliases (v5, when enabled): topic -> alias, up to the client's Topic Alias Maximum. Touched
    // only by the writer loop.
    private int _outboundAliasMaximum;
    private Dictionary<string, ushort>? _outboundAliases;

    // Set by a writer that stopped on a failed or canceled flush (read after WhenWriterIdle, which orders it).
    private bool _writerFailed;

    public void SendControl(MqttPacket packet) => _outbound.EnqueueControl(OutboundItem.ForPacket(packet));

    public void SendAck(PacketType type, ushort packetId, ReasonCode reason) => _outbound.EnqueueControl(OutboundItem.ForAck(type, packetId, reason));

    /// <summary>Queues a QoS 1/2 PUBLISH; the queue entry holds a counted reference until the writer has encoded it.</summary>
    public void SendPublish(in Delivery delivery, bool dup)
    {
        delivery.Message.AddRef();
        _outbound.EnqueueData(OutboundItem.ForPublish(delivery, dup));
    }

    /// <summary>
    /// QoS 0: dropped (and counted) when the client is not keeping up (rule 4, slow consumers). Returns true when this
    /// client's data lane is congested but moving: the publisher's read loop stops after this packet and waits for it.
    /// </summary>
    public bool SendQoS0(in Delivery delivery, int extraRoom = 0)
    {
        if (!Fits(delivery))
        {
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedTooLarge);
            return false;
        }
        delivery.Message.AddRef();
        if (!_outbound.TryEnqueueQoS0(OutboundItem.ForPublish(delivery, dup: false), extraRoom))
        {
            delivery.Message.Release();
            Interlocked.Increment(ref _broker.Counters.MessagesDroppedQoS0Backlog);
        }
        return _outbound.IsCongestedButMoving;
    }

    /// <summary>Whether the PUBLISH for this delivery stays within the client's Maximum Packet Size [MQTT-3.1.2-24].</summary>
    public bool Fits(in Delivery delivery)
    {
        if (_clientMaxPacketSize == uint.MaxValue)
        {
            return true;
        }
        var size = PublishEncoder.GetSize(_version, delivery.Message.TopicUtf8.Length, delivery.Message.Payload.Length, delivery.QoS,
            OutboundProperties(delivery, 0));
        // A first use of an outbound alias adds its property (3 bytes); a reuse only shrinks the packet.
        return (uint)size + (_outboundAliasMaximum > 0 ? 3u : 0u) <= _clientMaxPacketSize;
    }

    /// <summary>Back-pressure toward a publisher: waits, at most <paramref name="limit"/>, for the congested subscriber.</summary>
    private static async ValueTask WaitForCongestedSubscriberAsync(MqttConnection congested, TimeSpan limit)
    {
        var drained = congested._outbound.WaitForDataRoomAsync();
        if (!drained.IsCompleted)
        {
            await Task.WhenAny(drained, Task.Delay(limit)).ConfigureAwait(false);
        }
    }

    private async ValueTask<FlushResult> FlushAsync(PipeWriter output)
    {
        var flush = output.FlushAsync();
        if (!flush.IsCompleted)
        {
            _outbound.FlushBlocked();
        }
        var result = await flush.ConfigureAwait(false);
        _outbound.FlushCompleted();
        return result;
    }

    /// <summary>The writer, scheduled by <see cref="OutboundQueue"/> when an item arrives and no writer runs.</summary>
    void IThreadPoolWorkItem.Execute() => _ = WriteAsync();

    /// <summary>
    /// Drains the outbound queue in batches (one flush per batch, or every 64 KiB) and ends when it is empty, so an
    /// idle connection holds no writer state. Only one runs at a time (the queue schedules it); the close path waits
    /// for it (<see cref="FinishWriterAsync"/>) before writing the final packet.
    /// </summary>
    private async Task WriteAsync()
    {
        var output = _transport.Output;
        var failed = true;
        try
        {
            do
            {
                var now = 0L;
                while (_outbound.TryDequeue(out var item))
                {
                    Write(output, item, ref now);
                    if (output.UnflushedBytes >= FlushThreshold)
                    {
                        Interlocked.Add(ref _broker.Counters.BytesSent, output.UnflushedBytes);
                        var partial = await FlushAsync(output).ConfigureAwait(false);
                        if (partial.IsCompleted || partial.IsCanceled)
                        {
                            return;
                        }
                    }
                }
                _outbound.SignalRoom();
                Interlocked.Add(ref _broker.Counters.BytesSent, output.UnflushedBytes);
                var result = await FlushAsync(output).ConfigureAwait(false);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
            while (!_outbound.TryStopWriter());
            failed = false;
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            _log.LogDebug("Client {ClientId}: write failed: {Error}", DisplayId, ex.Message);
        }
        finally
        {
            if (failed)
            {
                // The stream cannot continue: no writer runs again, no final packet, and the connection closes.
                _writerFailed = true;
                _outbound.Complete();
                _outbound.TryStopWriter(failed: true);
                Abort(null, "write failed");
            }
        }
    }

    /// <summary>Closing: waits for the writer, then a CONNACK refusal or a v5 DISCONNECT is the last packet [MQTT-3.2.2-5].</summary>
    private async Task WriteFinalPacketAsync()
    {
        await _outbound.WhenWriterIdle().ConfigureAwait(false);
        if (_finalPacket is not { } last || _writerFailed)
        {
            return;
        }
        while (last is ConnAckPacket && _outbound.TryDequeue(out _))
        {
        }
        var output = _transport.Output;
        PacketEncoder.Write(output, last, _version == ProtocolVersion.Unknown ? ProtocolVersion.V311 : _version);
        await output.FlushAsync().ConfigureAwait(false);
    }

    private void Write(PipeWriter output, in OutboundItem item, ref long now)
    {
        switch (item.Kind)
        {
            case OutboundKind.Ack:
                WriteAck(output, item.AckType, item.PacketId, item.Reason);
                break;
            case OutboundKind.Packet:
                PacketEncoder.Write(output, item.Packet!, _version);
                break;
            default:
                var d = item.Delivery;
                MqttProperties? properties = null;
                if (_version == ProtocolVersion.V500 && (d.Message.Properties is not null || d.SubscriptionIds is not null))
                {
                    now = now == 0 ? _broker.Time.GetTimestamp() : now;
                    properties = OutboundProperties(d, now);
                }
                var topic = d.Message.TopicUtf8.AsSpan();
                if (_outboundAliasMaximum > 0)
                {
                    ApplyOutboundAlias(d.Message.Topic, ref topic, ref properties);
                }
                PublishEncoder.Write(output, _version, topic, new ReadOnlySequence<byte>(d.Message.Payload),
                    d.QoS, d.Retain, item.Dup, d.PacketId, properties);
                // Encoded (copied into the output): the queue entry's counted reference ends here. An entry never
                // written (the connection closed first) just leaves its message to the GC.
                d.Message.Release();
                break;
        }
    }

    // The properties of one outbound PUBLISH, filled and encoded at once and never kept, so one object per thread
    // serves every delivery: the writer loop (Write) and Fits (a publisher's thread, under a session lock) each fill
    // and read it without an await or another fill in between.
    [ThreadStatic] private static MqttProperties? t_outboundProperties;

    /// <summary>
    /// The properties of an outbound PUBLISH for a v5 client: the message's forwarded ones, with the expiry reduced by
    /// the time it waited [MQTT-3.3.2-6] and this subscriber's subscription identifiers [MQTT-3.3.4-3]. Null for older
    /// clients and for messages without any (the common case). Otherwise the per-thread scratch object: valid until
    /// this thread's next call, and read-only for the caller except <see cref="MqttProperties.TopicAlias"/>.
    /// </summary>
    private MqttProperties? OutboundProperties(in Delivery d, long now)
    {
        if (_version != ProtocolVersion.V500)
        {
            return null;
        }
        var source = d.Message.Properties;
        if (source is null && d.SubscriptionIds is null)
        {
            return null;
        }
        var p = ClearedOutboundProperties();
        if (source is not null)
        {
            // Only what a PUBLISH may carry: the encoder writes nothing else in this context. The lists and arrays
            // are the message's own, shared read-only (a Message never changes after it is built).
            p.PayloadFormatIndicator = source.PayloadFormatIndicator;
            p.MessageExpiryInterval = source.MessageExpiryInterval is not null && now != 0
                ? d.Message.RemainingExpiry(_broker.Time, now)
                : source.MessageExpiryInterval;
            p.ContentType = source.ContentType;
            p.ResponseTopic = source.ResponseTopic;
            p.CorrelationData = source.CorrelationData;
            p.UserProperties = source.UserProperties;
        }
        if (d.SubscriptionIds is { } ids)
        {
            p.SubscriptionIdentifiers!.AddRange(ids);
        }
        return p;
    }

    /// <summary>This thread's scratch PUBLISH properties with every field empty.</summary>
    private static MqttProperties ClearedOutboundProperties()
    {
        var p = t_outboundProperties ??= new MqttProperties { SubscriptionIdentifiers = [] };
        p.PayloadFormatIndicator = null;
        p.MessageExpiryInterval = null;
        p.ContentType = null;
        p.ResponseTopic = null;
        p.CorrelationData = null;
        p.UserProperties = null;
        p.TopicAlias = null;
        p.SubscriptionIdentifiers!.Clear();
        return p;
    }

    /// <summary>
    /// Sends a known topic as alias only (empty topic), or teaches a new alias while there is room [MQTT-3.3.2-12].
    /// Topics beyond the client's maximum go out in full.
    /// </summary>
    private void ApplyOutboundAlias(string topicName, ref Span<byte> topic, ref MqttProperties? properties)
    {
        var aliases = _outboundAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (aliases.TryGetValue(topicName, out var alias))
        {
            topic = [];
        }
        else if (aliases.Count < _outboundAliasMaximum)
        {
            alias = (ushort)(aliases.Count + 1);
            aliases[topicName] = alias;
        }
        else
        {
            return;
        }
        // Either the scratch object from OutboundProperties or, for a message without properties, a cleared one.
        properties ??= ClearedOutboundProperties();
        properties.TopicAlias = alias;
    }

    private void WriteAck(PipeWriter output, PacketType type, ushort packetId, ReasonCode reason)
    {
        if (_version == ProtocolVersion.V500 && reason != ReasonCode.Success)
        {
            PacketEncoder.Write(output, new PubAckPacket(type, packetId, reason), _version);
            return;
        }
        // The 4-byte short form, identical for every version: type/flags, length 2, packet id [MQTT-3.4.2], [MQTT-3.6.1-1].
        var span = output.GetSpan(4);
        span[0] = (byte)(((byte)type << 4) | (type == PacketType.PubRel ? 0x02 : 0x00));
        span[1] = 2;
        span[2] = (byte)(packetId >> 8);
        span[3] = (byte)packetId;
        output.Advance(4);
    }

    private async Task FinishWriterAsync()
    {
        var finish = WriteFinalPacketAsync();
        try
        {
            try
            {
                // A client that stopped reading must not keep the connection open: give the last flushes 5 s.
                await finish.WaitAsync(TimeSpan.FromSeconds(5), _broker.Time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _transport.Output.CancelPendingFlush();
                await finish.ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            _log.LogDebug("Client {ClientId}: final write failed: {Error}", DisplayId, ex.Message);
        }
    }
}
