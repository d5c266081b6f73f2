using Starling.Broker.Security;
using System.Buffers;
using System.IO.Pipelines;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The writing half of a connection: its outbound queue (the base class, one object for both: idle-connection memory),
/// the writer loop (drain, encode, flush once per batch), outbound topic aliases and the client's Maximum Packet Size.
/// It is the <see cref="IDeliverySink"/> a session delivers into. The writer is a thread-pool work item that the queue
/// schedules when output arrives and that ends once the queue is empty, so an idle connection holds no writer state.
/// Threading: any thread enqueues (the <c>Send*</c> members never block); only one writer loop runs at a time, and only
/// it touches the alias table; the maximum packet size and alias maximum are set once at CONNECT, before the session
/// is attached (so before any delivery can read them).
/// </summary>
internal sealed class ConnectionWriter : OutboundQueue, IDeliverySink
{
    private const int FlushThreshold = 64 * 1024;

    // The services (Time, Counters, Log) are read through the owner: one field less per connection.
    private readonly MqttConnection _owner;

    // The client's Maximum Packet Size (v5 CONNECT); uint.MaxValue when it set none.
    private uint _clientMaxPacketSize = uint.MaxValue;

    // Outbound topic aliases (v5, when enabled): topic -> alias, up to the client's Topic Alias Maximum.
    private int _outboundAliasMaximum;
    private Dictionary<string, ushort>? _outboundAliases;

    public ConnectionWriter(MqttConnection owner, ConnectionServices services)
        : base(Math.Max(services.Options.MaxQueuedMessages, 100))
    {
        _owner = owner;
    }

    /// <summary>
    /// Set once a v5 CONNECT is decoded, before anything is answered (a refusing CONNACK must fit too): the client's
    /// Maximum Packet Size.
    /// </summary>
    public void SetClientMaximumPacketSize(uint clientMaxPacketSize) => _clientMaxPacketSize = clientMaxPacketSize;

    /// <summary>Set at CONNECT (before the session is attached): the client's Topic Alias Maximum, when aliases are on.</summary>
    public void SetOutboundAliasMaximum(int outboundAliasMaximum) => _outboundAliasMaximum = outboundAliasMaximum;

    /// <summary>
    /// Whether <paramref name="packet"/> fits the client's Maximum Packet Size, dropping its Reason String and User
    /// Properties if need be (<see cref="PacketSizeGuard.TryFit"/>).
    /// </summary>
    public bool TryFit(MqttPacket packet) => PacketSizeGuard.TryFit(packet, Version, _clientMaxPacketSize);

    /// <summary>
    /// A packet of <paramref name="size"/> bytes cannot be sent within the client's Maximum Packet Size: counted,
    /// logged (rate-limited) and the connection closes, with DISCONNECT 0x95 when even that fits.
    /// </summary>
    public void CloseForTooLarge(PacketType type, int size, string? clientId = null)
    {
        _owner.Services.PacketSize.TooLarge(clientId ?? _owner.DisplayId, _owner.Info.RemoteEndPoint, type, size, _clientMaxPacketSize);
        _owner.Abort(ReasonCode.PacketTooLarge, $"{type} of {size} bytes exceeds the client's Maximum Packet Size ({_clientMaxPacketSize} bytes)");
    }

    /// <summary>The client's Maximum Packet Size (uint.MaxValue: none).</summary>
    public uint ClientMaxPacketSize => _clientMaxPacketSize;

    private ProtocolVersion Version => _owner.Version;

    public void SendControl(MqttPacket packet) => EnqueueControl(OutboundItem.ForPacket(packet));

    public void SendAck(PacketType type, ushort packetId, ReasonCode reason) => EnqueueControl(OutboundItem.ForAck(type, packetId, reason));

    public bool HasFailureAcks => Version == ProtocolVersion.V500;

    public void CloseUnacknowledged(string cause) => _owner.Abort(null, cause);

    /// <summary>Queues a QoS 1/2 PUBLISH; the queue entry holds a counted reference until the writer has encoded it.</summary>
    public void SendPublish(in Delivery delivery, bool dup)
    {
        delivery.Message.AddRef();
        EnqueueData(OutboundItem.ForPublish(delivery, dup));
    }

    /// <summary>
    /// QoS 0: dropped (and counted) when the client is not keeping up (rule 4, slow consumers). Returns true when this
    /// client's data lane is congested but moving: the publisher's read loop stops after this packet and waits for it.
    /// </summary>
    public bool SendQoS0(in Delivery delivery, int extraRoom = 0)
    {
        if (!Fits(delivery))
        {
            CountDrop(DropReason.TooLarge);
            return false;
        }
        delivery.Message.AddRef();
        if (!TryEnqueueQoS0(OutboundItem.ForPublish(delivery, dup: false), extraRoom))
        {
            delivery.Message.Release();
            CountDrop(DropReason.QoS0Backlog);
        }
        return IsCongestedButMoving;
    }

    /// <summary>A QoS 0 message this connection dropped: counted for its session (and broker-wide) when it has one.</summary>
    private void CountDrop(DropReason reason)
    {
        if (_owner.State.Session is { } session)
        {
            session.CountDrop(reason);
        }
        else
        {
            Interlocked.Increment(ref DropReasons.Counter(_owner.Services.Counters, reason));
        }
    }

    /// <summary>Whether the PUBLISH for this delivery stays within the client's Maximum Packet Size [MQTT-3.1.2-24].</summary>
    public bool Fits(in Delivery delivery)
    {
        if (_clientMaxPacketSize == uint.MaxValue)
        {
            return true;
        }
        var size = PublishEncoder.GetSize(Version, delivery.Message.TopicUtf8.Length, delivery.Message.Payload.Length, delivery.QoS,
            OutboundProperties.For(Version, delivery, 0, _owner.Services.Time));
        // A first use of an outbound alias adds its property (3 bytes); a reuse only shrinks the packet.
        return (uint)size + (_outboundAliasMaximum > 0 ? 3u : 0u) <= _clientMaxPacketSize;
    }

    /// <summary>Back-pressure toward a publisher: waits, at most <paramref name="limit"/>, for the congested subscriber.</summary>
    public static async ValueTask WaitForCongestedSubscriberAsync(ConnectionWriter congested, TimeSpan limit)
    {
        var drained = congested.WaitForDataRoomAsync();
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
            FlushBlocked();
        }
        var result = await flush.ConfigureAwait(false);
        FlushCompleted();
        return result;
    }

    /// <summary>The writer, scheduled by the queue when an item arrives and no writer runs.</summary>
    protected override void RunWriter() => _ = WriteAsync();

    /// <summary>
    /// Drains the outbound queue in batches (one flush per batch, or every 64 KiB) and ends when it is empty, so an
    /// idle connection holds no writer state. Only one runs at a time (the queue schedules it); the close path waits
    /// for it (<see cref="FinishAsync"/>) before writing the final packet.
    /// </summary>
    public async Task WriteAsync()
    {
        var output = _owner.Transport.Output;
        var counters = _owner.Services.Counters;
        var failed = true;
        try
        {
            do
            {
                var now = 0L;
                while (TryDequeue(out var item))
                {
                    if (!Write(output, item, ref now))
                    {
                        // Too large for the client: the connection is closing (Abort completed the queue), and
                        // nothing queued after it is written. What was written before still goes out.
                        break;
                    }
                    if (output.UnflushedBytes >= FlushThreshold)
                    {
                        Interlocked.Add(ref counters.BytesSent, output.UnflushedBytes);
                        var partial = await FlushAsync(output).ConfigureAwait(false);
                        if (partial.IsCompleted || partial.IsCanceled)
                        {
                            return;
                        }
                    }
                }
                SignalRoom();
                Interlocked.Add(ref counters.BytesSent, output.UnflushedBytes);
                var result = await FlushAsync(output).ConfigureAwait(false);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
            while (!TryStopWriter());
            failed = false;
        }
        catch (Exception ex) when (TransportFaults.IsTransportFault(ex))
        {
            ConnectionLog.WriteFailed(_owner.Services.Log, LogText.Escape(_owner.DisplayId), ex.Message);
        }
        finally
        {
            if (failed)
            {
                // The stream cannot continue: no writer runs again, no final packet, and the connection closes.
                Complete();
                TryStopWriter(failed: true);
                _owner.Abort(null, "write failed");
            }
        }
    }

    /// <summary>Closing: waits for the writer, then a CONNACK refusal or a v5 DISCONNECT is the last packet [MQTT-3.2.2-5].</summary>
    private async Task WriteFinalPacketAsync()
    {
        await WhenWriterIdle().ConfigureAwait(false);
        if (_owner.FinalPacket is not { } last || WriterFailed)
        {
            return;
        }
        if (!TryFit(last))
        {
            // A CONNACK or DISCONNECT the client would not accept [MQTT-3.1.2-24]: close without it.
            _owner.Services.PacketSize.TooLarge(_owner.DisplayId, _owner.Info.RemoteEndPoint, last.Type,
                PacketEncoder.GetSize(last, Version), _clientMaxPacketSize);
            return;
        }
        while (last is ConnAckPacket && TryDequeue(out _))
        {
        }
        var output = _owner.Transport.Output;
        PacketEncoder.Write(output, last, Version == ProtocolVersion.Unknown ? ProtocolVersion.V311 : Version);
        await output.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Encodes one item; false when it does not fit the client's Maximum Packet Size (the connection then closes).</summary>
    private bool Write(PipeWriter output, in OutboundItem item, ref long now)
    {
        switch (item.Kind)
        {
            case OutboundKind.Ack:
                if (_clientMaxPacketSize < 5 && AckSize(item.Reason) > _clientMaxPacketSize)
                {
                    CloseForTooLarge(item.AckType, AckSize(item.Reason));
                    return false;
                }
                WriteAck(output, item.AckType, item.PacketId, item.Reason);
                break;
            case OutboundKind.Packet:
                if (!TryFit(item.Packet!))
                {
                    CloseForTooLarge(item.Packet!.Type, PacketEncoder.GetSize(item.Packet!, Version));
                    return false;
                }
                PacketEncoder.Write(output, item.Packet!, Version);
                break;
            default:
                var d = item.Delivery;
                var version = Version;
                MqttProperties? properties = null;
                if (version == ProtocolVersion.V500 && (d.Message.Properties is not null || d.SubscriptionIds is not null))
                {
                    now = now == 0 ? _owner.Services.Time.GetTimestamp() : now;
                    properties = OutboundProperties.For(version, d, now, _owner.Services.Time);
                }
                var topic = d.Message.TopicUtf8.AsSpan();
                if (_outboundAliasMaximum > 0)
                {
                    ApplyOutboundAlias(d.Message.Topic, ref topic, ref properties);
                }
                PublishEncoder.Write(output, version, topic, new ReadOnlySequence<byte>(d.Message.Payload),
                    d.QoS, d.Retain, item.Dup, d.PacketId, properties);
                // Encoded (copied into the output): the queue entry's counted reference ends here. An entry never
                // written (the connection closed first) just leaves its message to the GC.
                d.Message.Release();
                break;
        }
        return true;
    }

    /// <summary>An ack without properties: the 4-byte short form, or 5 bytes with a v5 reason code other than Success.</summary>
    private int AckSize(ReasonCode reason) => Version == ProtocolVersion.V500 && reason != ReasonCode.Success ? 5 : 4;

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
        properties ??= OutboundProperties.Cleared();
        properties.TopicAlias = alias;
    }

    private void WriteAck(PipeWriter output, PacketType type, ushort packetId, ReasonCode reason)
    {
        if (Version == ProtocolVersion.V500 && reason != ReasonCode.Success)
        {
            PacketEncoder.Write(output, new PubAckPacket(type, packetId, reason), Version);
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

    /// <summary>The close path: waits (at most 5 s) for the writer and writes the final packet, if any.</summary>
    public async Task FinishAsync()
    {
        var finish = WriteFinalPacketAsync();
        try
        {
            try
            {
                // A client that stopped reading must not keep the connection open: give the last flushes 5 s. Real
                // time on purpose (an I/O timeout, not MQTT time): a test's fake clock must not make a close hang.
                await finish.WaitAsync(TimeSpan.FromSeconds(5), TimeProvider.System).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _owner.Transport.Output.CancelPendingFlush();
                await finish.ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (TransportFaults.IsTransportFault(ex))
        {
            ConnectionLog.FinalWriteFailed(_owner.Services.Log, LogText.Escape(_owner.DisplayId), ex.Message);
        }
    }
}
