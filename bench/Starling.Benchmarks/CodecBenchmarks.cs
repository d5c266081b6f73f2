using System.Buffers;
using BenchmarkDotNet.Attributes;
using Starling.Protocol;

namespace Starling.Benchmarks;

/// <summary>Frame scanning, and decode/encode of each packet type (MQTT 5, the version with properties).</summary>
public class CodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private MqttPacket _packet = null!;
    private byte[] _frame = [];
    private FrameHeader _header;
    private ReadOnlySequence<byte> _body;
    private ReadOnlySequence<byte> _frameSequence;

    public enum Kind
    {
        Connect,
        ConnAck,
        Publish,
        PubAck,
        Subscribe,
        SubAck,
        Unsubscribe,
        UnsubAck,
        PingReq,
        Disconnect,
    }

    [Params(Kind.Connect, Kind.ConnAck, Kind.Publish, Kind.PubAck, Kind.Subscribe, Kind.SubAck, Kind.Unsubscribe, Kind.UnsubAck, Kind.PingReq, Kind.Disconnect)]
    public Kind Packet { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _packet = Create(Packet);
        var writer = new ArrayBufferWriter<byte>();
        PacketEncoder.Write(writer, _packet, ProtocolVersion.V500);
        _frame = writer.WrittenSpan.ToArray();
        _frameSequence = new ReadOnlySequence<byte>(_frame);
        if (FrameScanner.TryReadHeader(_frameSequence, int.MaxValue, out _header, out _) != OperationStatus.Done)
        {
            throw new InvalidOperationException("bad frame");
        }
        _body = _frameSequence.Slice(_header.HeaderLength, _header.RemainingLength);
    }

    [Benchmark]
    public MqttPacket Decode() => PacketDecoder.Decode(_header, _body, ProtocolVersion.V500);

    [Benchmark]
    public int Encode()
    {
        _output.ResetWrittenCount();
        PacketEncoder.Write(_output, _packet, ProtocolVersion.V500);
        return _output.WrittenCount;
    }

    private static MqttPacket Create(Kind kind) => kind switch
    {
        Kind.Connect => new ConnectPacket
        {
            ProtocolVersion = ProtocolVersion.V500,
            ClientId = "sensor-000123",
            KeepAliveSeconds = 60,
            Username = "device",
            Password = "secret"u8.ToArray(),
            Properties = new MqttProperties { SessionExpiryInterval = 3600, ReceiveMaximum = 100 },
        },
        Kind.ConnAck => new ConnAckPacket { ReasonCode = ReasonCode.Success, Properties = new MqttProperties { ReceiveMaximum = 65535, TopicAliasMaximum = 10 } },
        Kind.Publish => new PublishPacket
        {
            Topic = "sensors/building-7/floor-3/temperature",
            QoS = QualityOfService.AtLeastOnce,
            PacketId = 42,
            Payload = new ReadOnlySequence<byte>(new byte[64]),
        },
        Kind.PubAck => new PubAckPacket(PacketType.PubAck, 42, ReasonCode.Success),
        Kind.Subscribe => new SubscribePacket
        {
            PacketId = 7,
            Subscriptions = [new TopicSubscription("sensors/+/floor-3/#", new SubscriptionOptions(QualityOfService.AtLeastOnce)),
                new TopicSubscription("alerts/#", new SubscriptionOptions(QualityOfService.ExactlyOnce))],
        },
        Kind.SubAck => new SubAckPacket { PacketId = 7, ReasonCodes = [ReasonCode.GrantedQoS1, ReasonCode.GrantedQoS2] },
        Kind.Unsubscribe => new UnsubscribePacket { PacketId = 8, TopicFilters = ["sensors/+/floor-3/#", "alerts/#"] },
        Kind.UnsubAck => new UnsubAckPacket { PacketId = 8, ReasonCodes = [ReasonCode.Success, ReasonCode.Success] },
        Kind.PingReq => PingReqPacket.Instance,
        _ => new DisconnectPacket { ReasonCode = ReasonCode.Success },
    };
}
