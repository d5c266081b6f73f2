using System.Buffers;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The frame checks of a connection that has no CONNACK yet, where nobody is authenticated: a packet is judged by its
/// first byte before its length is even read [MQTT-3.1.0-1], and a CONNECT (or an AUTH of enhanced authentication) is
/// buffered only up to Limits:MaxConnectPacketSize (issue 16, finding 9). Runs on the connection's read loop.
/// </summary>
internal static class PreConnectGuard
{
    /// <summary>
    /// The largest frame to buffer before CONNACK; throws (a protocol error that closes the connection) when the first
    /// byte is not a packet allowed before CONNACK (CONNECT, or AUTH during enhanced authentication).
    /// </summary>
    public static int MaxFrameSize(MqttConnection connection, in ReadOnlySequence<byte> buffer)
    {
        var services = connection.Services;
        var maxPacketSize = services.Options.MaxPacketSize;
        if (buffer.IsEmpty)
        {
            return maxPacketSize;
        }
        var type = (PacketType)(buffer.FirstSpan[0] >> 4);
        if (!EnhancedAuthHandler.AcceptedBeforeConnAck(connection.AuthenticatingBeforeConnAck, type))
        {
            Interlocked.Increment(ref services.Counters.FirstPacketNotConnect);
            throw new MqttProtocolException(ReasonCode.ProtocolError, $"first packet must be CONNECT, got {type} [MQTT-3.1.0-1]");
        }
        // AUTH during enhanced authentication is as unauthenticated as CONNECT: the same small limit.
        return Math.Min(maxPacketSize, services.Options.MaxConnectPacketSize);
    }

    /// <summary>The exception for a fixed header that cannot be accepted (too large, or malformed).</summary>
    public static MqttProtocolException FrameError(MqttConnection connection, ReasonCode error, PacketType type, int maxPacketSize)
    {
        if (error == ReasonCode.PacketTooLarge && !connection.IsConnected)
        {
            Interlocked.Increment(ref connection.Services.Counters.ConnectTooLarge);
            return new MqttProtocolException(error, $"{type} before CONNACK larger than Limits:MaxConnectPacketSize ({maxPacketSize} bytes)");
        }
        return new MqttProtocolException(error, error == ReasonCode.PacketTooLarge
            ? $"packet larger than the maximum packet size ({maxPacketSize} bytes)"
            : "malformed fixed header");
    }
}
