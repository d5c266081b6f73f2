using Starling.Protocol;

namespace Starling.Client;

/// <summary>SUBSCRIBE and UNSUBSCRIBE, and the request/acknowledgement round trip they share.</summary>
public sealed partial class MqttClient
{
    /// <summary>Subscribes to one topic filter with default options.</summary>
    public Task<SubAckPacket> SubscribeAsync(string topicFilter, QualityOfService qos = QualityOfService.AtMostOnce,
        CancellationToken cancellationToken = default)
        => SubscribeAsync([new TopicSubscription(topicFilter, new SubscriptionOptions(qos))], null, cancellationToken);

    /// <summary>
    /// Sends SUBSCRIBE and returns the SUBACK: one reason code per filter (granted QoS 0x00-0x02, or a failure 0x80 and
    /// above). <paramref name="properties"/> (v5) may carry a Subscription Identifier and user properties.
    /// </summary>
    public async Task<SubAckPacket> SubscribeAsync(IEnumerable<TopicSubscription> subscriptions, MqttProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(subscriptions);
        var list = subscriptions.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("SUBSCRIBE needs at least one topic filter.", nameof(subscriptions));
        }
        foreach (var subscription in list)
        {
            if (!TopicValidator.IsValidTopicFilter(subscription.TopicFilter))
            {
                throw new ArgumentException($"'{subscription.TopicFilter}' is not a valid topic filter.", nameof(subscriptions));
            }
        }
        EnsureConnected();
        var ack = await RequestAsync(PacketType.SubAck, id => new SubscribePacket
        {
            PacketId = id,
            Subscriptions = list,
            Properties = _version == ProtocolVersion.V500 ? properties : null,
        }, cancellationToken).ConfigureAwait(false);
        return (SubAckPacket)ack;
    }

    /// <summary>Sends UNSUBSCRIBE and returns the UNSUBACK (v5 carries one reason code per filter; 3.1.1 none).</summary>
    public async Task<UnsubAckPacket> UnsubscribeAsync(IEnumerable<string> topicFilters, MqttProperties? properties = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topicFilters);
        var list = topicFilters.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("UNSUBSCRIBE needs at least one topic filter.", nameof(topicFilters));
        }
        EnsureConnected();
        var ack = await RequestAsync(PacketType.UnsubAck, id => new UnsubscribePacket
        {
            PacketId = id,
            TopicFilters = list,
            Properties = _version == ProtocolVersion.V500 ? properties : null,
        }, cancellationToken).ConfigureAwait(false);
        return (UnsubAckPacket)ack;
    }

    private async Task<MqttPacket> RequestAsync(PacketType expected, Func<ushort, MqttPacket> build, CancellationToken cancellationToken)
    {
        var request = _pending.Rent(expected);
        var packetId = Register(request);
        try
        {
            await SendPacketAsync(build(packetId), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _pending.Unregister(packetId, request);
            throw;
        }
        return await WaitForAckAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
