using System.Net;
using Microsoft.Extensions.Logging;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// The client's Maximum Packet Size for every packet other than PUBLISH [MQTT-3.1.2-24] (a PUBLISH that does not fit
/// is dropped as if sent [MQTT-3.1.2-25], see <see cref="ConnectionWriter.Fits"/>). A packet first loses what the
/// standard lets the server leave out when it would not fit, Reason String and User Properties ([MQTT-3.1.2-25] and
/// the per-packet rules, e.g. [MQTT-3.2.2-19], [MQTT-3.2.2-20], [MQTT-3.14.2-3], [MQTT-3.14.2-4]); a packet that still
/// does not fit is not sent and the connection is closed: there is no way to tell the client otherwise (a CONNACK that
/// cannot be sent means closing without it). Each such close is counted
/// (<see cref="BrokerCounters.PacketsTooLargeForClient"/>) and logged at most once per 10 s. One per broker, any thread.
/// </summary>
internal sealed class PacketSizeGuard(BrokerCounters counters, ILogger log, TimeProvider time)
{
    private static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private long _lastLogged;
    private long _suppressed;

    /// <summary>
    /// Whether <paramref name="packet"/> fits <paramref name="maximum"/> bytes once encoded for
    /// <paramref name="version"/>, after dropping its Reason String and User Properties if that is what it takes (the
    /// packet's properties are then replaced by a copy without them). Always true when there is no maximum.
    /// </summary>
    public static bool TryFit(MqttPacket packet, ProtocolVersion version, uint maximum)
    {
        if (maximum == uint.MaxValue || version != ProtocolVersion.V500)
        {
            return true; // only a v5 client announces a maximum
        }
        if ((uint)PacketEncoder.GetSize(packet, version) <= maximum)
        {
            return true;
        }
        if (GetProperties(packet) is not { } properties || (properties.ReasonString is null && properties.UserProperties is null))
        {
            return false;
        }
        var trimmed = properties.Clone();
        trimmed.ReasonString = null;
        trimmed.UserProperties = null;
        SetProperties(packet, trimmed);
        return (uint)PacketEncoder.GetSize(packet, version) <= maximum;
    }

    /// <summary>The size of a packet whose remaining length is <paramref name="remainingLength"/>: fixed header included.</summary>
    public static int SizeOf(int remainingLength) => 1 + VariableByteInteger.GetSize(remainingLength) + remainingLength;

    /// <summary>Counts and (rate-limited) logs a packet that could not be sent; the caller closes the connection.</summary>
    public void TooLarge(string clientId, EndPoint? remote, PacketType type, int size, uint maximum)
    {
        Interlocked.Increment(ref counters.PacketsTooLargeForClient);
        var now = time.GetTimestamp();
        long suppressed;
        lock (_gate)
        {
            if (_lastLogged != 0 && time.GetElapsedTime(_lastLogged, now) < LogInterval)
            {
                _suppressed++;
                return;
            }
            suppressed = _suppressed;
            _suppressed = 0;
            _lastLogged = now;
        }
        PacketSizeLog.TooLarge(log, clientId, remote, type, size, maximum, suppressed, (int)LogInterval.TotalSeconds);
    }

    private static MqttProperties? GetProperties(MqttPacket packet) => packet switch
    {
        ConnAckPacket p => p.Properties,
        PubAckPacket p => p.Properties,
        SubAckPacket p => p.Properties,
        UnsubAckPacket p => p.Properties,
        DisconnectPacket p => p.Properties,
        AuthPacket p => p.Properties,
        _ => null,
    };

    private static void SetProperties(MqttPacket packet, MqttProperties properties)
    {
        switch (packet)
        {
            case ConnAckPacket p: p.Properties = properties; break;
            case PubAckPacket p: p.Properties = properties; break;
            case SubAckPacket p: p.Properties = properties; break;
            case UnsubAckPacket p: p.Properties = properties; break;
            case DisconnectPacket p: p.Properties = properties; break;
            case AuthPacket p: p.Properties = properties; break;
        }
    }
}

/// <summary>Log lines of <see cref="PacketSizeGuard"/> (event ids 1700-1709).</summary>
internal static partial class PacketSizeLog
{
    [LoggerMessage(EventId = 1700, Level = LogLevel.Information,
        Message = "Client {ClientId} ({Remote}): {Packet} of {Size} bytes exceeds the client's Maximum Packet Size ({Maximum} bytes) [MQTT-3.1.2-24]; not sent, closing the connection ({Suppressed} more in the previous {Seconds} s not logged)")]
    public static partial void TooLarge(ILogger logger, string clientId, EndPoint? remote, PacketType packet, int size, uint maximum, long suppressed, int seconds);
}
