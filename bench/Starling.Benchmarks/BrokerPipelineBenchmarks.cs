using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Benchmarks;

/// <summary>
/// The whole broker without sockets: one publisher and 1 or 1,000 subscribers on in-memory pipes
/// (<see cref="MqttBroker.RunConnectionAsync"/>). One operation = one PUBLISH read, routed, and encoded to every
/// subscriber (and, for QoS 1, acknowledged both ways). Allocated bytes are per published message, all threads.
/// With MQTT 5 the PUBLISH carries a Content Type and each subscription a Subscription Identifier, so every outbound
/// PUBLISH has properties built for its subscriber.
/// </summary>
public class BrokerPipelineBenchmarks
{
    private const int Batch = 100;
    private const string Topic = "bench/sensors/temperature";

    private readonly ManualResetEventSlim _done = new(false);
    private MqttBroker _broker = null!;
    private Client _publisher = null!;
    private Client[] _subscribers = [];
    private byte[] _batch = [];
    private long _delivered;
    private long _target;

    [Params(1, 1000)]
    public int Subscribers { get; set; }

    [Params(QualityOfService.AtMostOnce, QualityOfService.AtLeastOnce)]
    public QualityOfService QoS { get; set; }

    [Params(ProtocolVersion.V311, ProtocolVersion.V500)]
    public ProtocolVersion Version { get; set; } = ProtocolVersion.V311;

    [GlobalSetup]
    public void Setup()
    {
        _broker = new MqttBroker(new BrokerOptions(), NullLoggerFactory.Instance);
        _publisher = new Client(this, "publisher", subscriber: false);
        _publisher.Request(new ConnectPacket { ClientId = "publisher", ProtocolVersion = Version });
        var v5 = Version == ProtocolVersion.V500;
        _subscribers = new Client[Subscribers];
        for (var i = 0; i < Subscribers; i++)
        {
            var client = new Client(this, "subscriber-" + i, subscriber: true);
            client.Request(new ConnectPacket { ClientId = "subscriber-" + i, ProtocolVersion = Version });
            client.Request(new SubscribePacket
            {
                PacketId = 1,
                Subscriptions = [new TopicSubscription(Topic, new SubscriptionOptions(QoS))],
                Properties = v5 ? new MqttProperties { SubscriptionIdentifiers = [1] } : null,
            });
            _subscribers[i] = client;
        }
        var writer = new ArrayBufferWriter<byte>();
        var payload = new ReadOnlySequence<byte>(new byte[64]);
        for (var i = 0; i < Batch; i++)
        {
            PublishEncoder.Write(writer, Version, "bench/sensors/temperature"u8, payload, QoS, false, false,
                QoS == QualityOfService.AtMostOnce ? (ushort)0 : (ushort)(i + 1), v5 ? new MqttProperties { ContentType = "application/json" } : null);
        }
        _batch = writer.WrittenSpan.ToArray();
        Publish(); // warm the path once so setup problems fail here, not in a measurement
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public void Publish()
    {
        _done.Reset();
        Volatile.Write(ref _target, Volatile.Read(ref _delivered) + (long)Batch * Subscribers);
        _publisher.Send(_batch);
        if (!_done.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"delivered {Volatile.Read(ref _delivered)} of {Volatile.Read(ref _target)}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _publisher.Close();
        foreach (var s in _subscribers)
        {
            s.Close();
        }
        _broker.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    private void OnDelivered(int count)
    {
        if (Interlocked.Add(ref _delivered, count) >= Volatile.Read(ref _target))
        {
            _done.Set();
        }
    }

    /// <summary>One client end: a read loop that counts PUBLISHes, answers QoS 1 with PUBACK and completes requests.</summary>
    private sealed class Client
    {
        // Blocks from a pool that stays warm, as with Kestrel (see BlockPool).
        private static readonly PipeOptions PipeOptions = new(pool: BlockPool.Blocks, useSynchronizationContext: false);

        private readonly BrokerPipelineBenchmarks _owner;
        private readonly bool _subscriber;
        private readonly Pipe _toServer = new(PipeOptions);
        private readonly Pipe _toClient = new(PipeOptions);
        private readonly SemaphoreSlim _replies = new(0);
        private readonly Lock _writeGate = new();
        private readonly byte[] _scratch = new byte[2];

        public Client(BrokerPipelineBenchmarks owner, string name, bool subscriber)
        {
            _owner = owner;
            _subscriber = subscriber;
            _ = owner._broker.RunConnectionAsync(new Duplex(_toServer.Reader, _toClient.Writer), new ConnectionInfo(name, null, null, "memory"),
                CancellationToken.None);
            _ = Task.Run(ReadLoopAsync);
        }

        public void Request(MqttPacket packet)
        {
            lock (_writeGate)
            {
                PacketEncoder.Write(_toServer.Writer, packet, _owner.Version);
                _toServer.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            }
            if (!_replies.Wait(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException($"no reply to {packet.Type}");
            }
        }

        public void Send(byte[] bytes)
        {
            lock (_writeGate)
            {
                _toServer.Writer.Write(bytes);
                _toServer.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        public void Close() => _toServer.Writer.Complete();

        private async Task ReadLoopAsync()
        {
            var reader = _toClient.Reader;
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                var delivered = 0;
                var acked = false;
                while (FrameScanner.TryReadHeader(buffer, int.MaxValue, out var header, out _) == OperationStatus.Done && buffer.Length >= header.TotalLength)
                {
                    switch (header.Type)
                    {
                        case PacketType.Publish:
                            delivered++;
                            if (((header.Flags >> 1) & 3) == 1)
                            {
                                var topicLength = ReadUInt16(buffer.Slice(header.HeaderLength, 2), _scratch);
                                var packetId = ReadUInt16(buffer.Slice(header.HeaderLength + 2 + topicLength, 2), _scratch);
                                lock (_writeGate)
                                {
                                    var span = _toServer.Writer.GetSpan(4);
                                    span[0] = 0x40;
                                    span[1] = 2;
                                    BinaryPrimitives.WriteUInt16BigEndian(span[2..], packetId);
                                    _toServer.Writer.Advance(4);
                                }
                                acked = true;
                            }
                            break;
                        case PacketType.ConnAck or PacketType.SubAck:
                            _replies.Release();
                            break;
                        default:
                            break; // PUBACK to the publisher
                    }
                    buffer = buffer.Slice(header.TotalLength);
                }
                if (acked)
                {
                    await _toServer.Writer.FlushAsync().ConfigureAwait(false);
                }
                if (delivered > 0 && _subscriber)
                {
                    _owner.OnDelivered(delivered);
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        private static ushort ReadUInt16(ReadOnlySequence<byte> bytes, Span<byte> scratch)
        {
            bytes.CopyTo(scratch);
            return BinaryPrimitives.ReadUInt16BigEndian(scratch);
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
