using System.Diagnostics;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>
/// Exchanges that return what the server answered instead of asserting it, in the protocol of <see cref="Version"/>
/// (3.1.1 or 5): for tests that compare return / reason codes and round-trip times.
/// </summary>
public sealed partial class RawMqttClient
{
    /// <summary>SUBSCRIBE one filter with a fresh packet id; returns the SUBACK's return / reason code.</summary>
    public async Task<int> SubscribeForCodeAsync(string filter, int qos = 0)
        => Version == ProtocolVersion.V500
            ? (await this.Subscribe5Async(null, new Sub(filter, qos)))[0]
            : (await this.SubscribeAsync((filter, qos)))[0];

    /// <summary>
    /// PUBLISH with a fresh packet id and the QoS flow completed; for QoS 1 returns the PUBACK's reason code (0 for
    /// 3.1.1 and for QoS 0). Deliveries that arrive before the acknowledgement are kept for the next receive.
    /// </summary>
    public async Task<int> PublishForCodeAsync(string topic, string payload, int qos = 0, bool retain = false)
    {
        if (Version == ProtocolVersion.V500)
        {
            var ack = await this.Publish5Async(topic, payload, qos, retain: retain);
            return ack?.ReasonCode ?? 0;
        }

        await this.PublishAsync(topic, payload, qos, retain);
        return 0;
    }

    /// <summary>
    /// PINGREQ / PINGRESP round-trip time, or null when no PINGRESP came within <paramref name="timeout"/> (default
    /// <see cref="DefaultTimeout"/>) or the connection closed first. Other packets that arrive first are kept, in
    /// order, for the next receive.
    /// </summary>
    public async Task<TimeSpan?> PingTimeAsync(TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        await SendAsync(RawPackets.PingReq());
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (true)
            {
                var frame = await _frames.Reader.ReadAsync(cts.Token);
                if (frame.Kind == PacketKind.PingResp)
                {
                    return clock.Elapsed;
                }

                _deferred.Enqueue(frame);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            return null;
        }
    }
}
