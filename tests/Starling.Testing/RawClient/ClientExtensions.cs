namespace Starling.Testing;

/// <summary>Short-hands for the well-formed exchanges most tests need around the packet they check.</summary>
public static class ClientExtensions
{
    /// <summary>SUBSCRIBE with a fresh packet id; asserts the SUBACK and returns its return codes.</summary>
    public static async Task<byte[]> SubscribeAsync(this RawMqttClient client, params (string Filter, int Qos)[] filters)
    {
        var id = client.NextPacketId();
        await client.SendAsync(RawPackets.Subscribe(id, filters));
        var codes = await client.ExpectSubAckAsync(id);
        Assert.Equal(filters.Length, codes.Length);
        return codes;
    }

    /// <summary>SUBSCRIBE and assert that every filter was granted its requested QoS.</summary>
    public static async Task SubscribeGrantedAsync(this RawMqttClient client, params (string Filter, int Qos)[] filters)
    {
        var codes = await client.SubscribeAsync(filters);
        Assert.Equal(filters.Select(f => (byte)f.Qos).ToArray(), codes);
    }

    public static async Task UnsubscribeAsync(this RawMqttClient client, params string[] filters)
    {
        var id = client.NextPacketId();
        await client.SendAsync(RawPackets.Unsubscribe(id, filters));
        await client.ExpectUnsubAckAsync(id);
    }

    /// <summary>
    /// Publishes and completes the QoS handshake (PUBACK, or PUBREC/PUBREL/PUBCOMP).
    /// </summary>
    public static async Task PublishAsync(this RawMqttClient client, string topic, string payload, int qos = 0, bool retain = false)
        => await client.PublishAsync(topic, RawMqttClient.Utf8(payload), qos, retain);

    public static async Task PublishAsync(this RawMqttClient client, string topic, byte[] payload, int qos = 0, bool retain = false)
    {
        var id = qos > 0 ? client.NextPacketId() : (ushort)0;
        await client.SendAsync(RawPackets.Publish(topic, payload, qos, retain, packetId: id));
        await client.CompletePublishAsync(qos, id);
    }

    /// <summary>The publisher's side of the handshake for a PUBLISH already sent.</summary>
    public static async Task CompletePublishAsync(this RawMqttClient client, int qos, ushort id)
    {
        // Deliveries to this client (if it is also a subscriber) may come first; they are kept for later reads.
        if (qos == 1)
        {
            await client.ExpectAckDeferringPublishesAsync(PacketKind.PubAck, id);
        }
        else if (qos == 2)
        {
            await client.ExpectAckDeferringPublishesAsync(PacketKind.PubRec, id);
            await client.SendAsync(RawPackets.PubRel(id));
            await client.ExpectAckDeferringPublishesAsync(PacketKind.PubComp, id);
        }
    }

    /// <summary>
    /// A QoS 0 round trip on the client's own connection: PINGREQ/PINGRESP. Once the PINGRESP arrives, the server has
    /// read everything sent before the PINGREQ.
    /// </summary>
    public static async Task PingAsync(this RawMqttClient client)
    {
        await client.SendAsync(RawPackets.PingReq());
        await client.ExpectPacketAsync(PacketKind.PingResp);
    }

    /// <summary>The subscriber's side of the handshake for a received PUBLISH (PUBACK, or PUBREC/PUBREL/PUBCOMP).</summary>
    public static async Task AcknowledgeAsync(this RawMqttClient client, ReceivedPublish publish)
    {
        if (publish.Qos == 1)
        {
            await client.SendAsync(RawPackets.PubAck(publish.PacketId));
        }
        else if (publish.Qos == 2)
        {
            await client.SendAsync(RawPackets.PubRec(publish.PacketId));
            await client.ExpectAckDeferringPublishesAsync(PacketKind.PubRel, publish.PacketId);
            await client.SendAsync(RawPackets.PubComp(publish.PacketId));
        }
    }

    /// <summary>Receives one PUBLISH, acknowledges it and returns it.</summary>
    public static async Task<ReceivedPublish> ReceiveAndAckAsync(this RawMqttClient client)
    {
        var publish = await client.ExpectPublishAsync();
        await client.AcknowledgeAsync(publish);
        return publish;
    }

    /// <summary>
    /// Asserts the next PUBLISH carries <paramref name="payload"/>: used after a message the client must NOT get,
    /// followed by a marker message it must get, so absence is checked without waiting.
    /// </summary>
    public static async Task<ReceivedPublish> ExpectPayloadAsync(this RawMqttClient client, string payload)
    {
        var publish = await client.ExpectPublishAsync();
        Assert.True(publish.Text == payload, $"{client.Name}: expected the message '{payload}', got {publish}");
        await client.AcknowledgeAsync(publish);
        return publish;
    }
}
