using System.Buffers;
using System.Diagnostics;
using System.Text;

namespace Starling.Protocol;

/// <summary>
/// Encodes packets for a connection of a given protocol version. Size first, then one GetSpan/Advance of the whole
/// packet (PUBLISH goes through <see cref="PublishEncoder"/>, which chunks large payloads).
/// Version rules: properties are written for 5.0 only, and only those table 2-4 allows on the packet; before 5.0 a
/// CONNACK reason code becomes a return code (<see cref="ReasonCodeRules.ToConnAckReturnCode"/>), SUBACK failures
/// become 0x80, UNSUBACK has no payload, DISCONNECT is written only in its empty client form (Success; anything else
/// throws <see cref="InvalidOperationException"/>), AUTH throws <see cref="InvalidOperationException"/>. CONNECT is
/// written for <c>version</c> when known, else for its own <see cref="ConnectPacket.ProtocolVersion"/>, with the
/// protocol name that version requires ("MQIsdp" for 3.1, "MQTT" otherwise). 5.0 acks, DISCONNECT and AUTH use their
/// short forms when the reason is Success and there are no properties.
/// </summary>
public static class PacketEncoder
{
    private const int StackTopicLimit = 256;

    /// <summary>Total encoded size in bytes (fixed header included), to check against a Maximum Packet Size.</summary>
    public static int GetSize(MqttPacket packet, ProtocolVersion version)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (packet is PublishPacket p)
        {
            return PublishEncoder.GetSize(version, Encoding.UTF8.GetByteCount(p.Topic), p.Payload.Length, p.QoS, p.Properties);
        }
        var remaining = GetRemainingLength(packet, version);
        return 1 + VariableByteInteger.GetSize(remaining) + remaining;
    }

    /// <summary>Writes the whole packet. Properties are omitted for versions below 5.</summary>
    public static void Write(IBufferWriter<byte> output, MqttPacket packet, ProtocolVersion version)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(packet);
        if (packet is PublishPacket publish)
        {
            WritePublish(output, publish, version);
            return;
        }
        var remaining = GetRemainingLength(packet, version);
        var total = 1 + VariableByteInteger.GetSize(remaining) + remaining;
        var w = new SpanWriter(output.GetSpan(total));
        var type = packet.Type;
        w.WriteByte((byte)(((int)type << 4) | (type is PacketType.PubRel or PacketType.Subscribe or PacketType.Unsubscribe ? 0x02 : 0)));
        w.WriteVariableByteInteger(remaining);
        switch (packet)
        {
            case ConnectPacket p:
                ConnectCodec.WriteBody(ref w, p, version);
                break;
            case ConnAckPacket p:
                ConnAckCodec.WriteBody(ref w, p, version);
                break;
            case PubAckPacket p:
                PubAckCodec.WriteBody(ref w, p, version, remaining);
                break;
            case SubscribePacket p:
                SubscribeCodec.WriteBody(ref w, p, version);
                break;
            case SubAckPacket p:
                SubAckCodec.WriteBody(ref w, p, version);
                break;
            case UnsubscribePacket p:
                UnsubscribeCodec.WriteBody(ref w, p, version);
                break;
            case UnsubAckPacket p:
                UnsubAckCodec.WriteBody(ref w, p, version);
                break;
            case DisconnectPacket p:
                DisconnectCodec.WriteBody(ref w, p, remaining);
                break;
            case AuthPacket p:
                AuthCodec.WriteBody(ref w, p, remaining);
                break;
            default:
                break; // PINGREQ, PINGRESP: fixed header only
        }
        Debug.Assert(w.Position == total, "GetRemainingLength and WriteBody disagree");
        output.Advance(total);
    }

    private static int GetRemainingLength(MqttPacket packet, ProtocolVersion version)
    {
        if (packet is not ConnectPacket && version is not (ProtocolVersion.V310 or ProtocolVersion.V311 or ProtocolVersion.V500))
        {
            throw new ArgumentOutOfRangeException(nameof(version), version, "protocol version 3, 4 or 5");
        }
        var remaining = packet switch
        {
            ConnectPacket p => ConnectCodec.GetRemainingLength(p, version),
            ConnAckPacket p => ConnAckCodec.GetRemainingLength(p, version),
            PubAckPacket p => PubAckCodec.GetRemainingLength(p, version),
            SubscribePacket p => SubscribeCodec.GetRemainingLength(p, version),
            SubAckPacket p => SubAckCodec.GetRemainingLength(p, version),
            UnsubscribePacket p => UnsubscribeCodec.GetRemainingLength(p, version),
            UnsubAckPacket p => UnsubAckCodec.GetRemainingLength(p, version),
            DisconnectPacket p => DisconnectCodec.GetRemainingLength(p, version),
            AuthPacket p => AuthCodec.GetRemainingLength(p, version),
            PingReqPacket or PingRespPacket => 0,
            _ => throw new ArgumentException($"cannot encode {packet.GetType().Name}", nameof(packet)),
        };
        return remaining <= FrameScanner.MaxRemainingLength
            ? remaining
            : throw new InvalidOperationException($"{packet.Type} of {remaining} bytes exceeds the maximum remaining length");
    }

    private static void WritePublish(IBufferWriter<byte> output, PublishPacket p, ProtocolVersion version)
    {
        var length = Encoding.UTF8.GetByteCount(p.Topic);
        if (length > ushort.MaxValue)
        {
            throw new ArgumentException("topic name longer than 65,535 bytes", nameof(p));
        }
        byte[]? rented = null;
        var buffer = length <= StackTopicLimit ? stackalloc byte[StackTopicLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var topic = buffer[..Encoding.UTF8.GetBytes(p.Topic, buffer)];
            PublishEncoder.Write(output, version, topic, p.Payload, p.QoS, p.Retain, p.Dup, p.PacketId, p.Properties);
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
