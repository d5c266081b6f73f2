namespace Starling.Testing;

/// <summary>MQTT 5 short-hands over <see cref="RawMqttClient"/> and <see cref="TestServer"/>.</summary>
public static class V5ClientExtensions
{
    /// <summary>Opens a connection, sends an MQTT 5 CONNECT and returns the client with its CONNACK (any reason code).</summary>
    public static async Task<(RawMqttClient Client, ConnAck5 Ack)> ConnectRaw5Async(this TestServer server, Connect5 spec)
    {
        var client = await server.OpenAsync(spec.ClientId.Length > 0 ? spec.ClientId : "client5");
        await client.SendAsync(Packets5.Connect(spec));
        var ack = await client.ExpectConnAck5Async();
        return (client, ack);
    }

    /// <summary>Connects with MQTT 5 and asserts CONNACK reason code 0x00.</summary>
    public static async Task<RawMqttClient> Connect5Async(this TestServer server, Connect5 spec)
    {
        var (client, ack) = await server.ConnectRaw5Async(spec);
        Assert.True(ack.ReasonCode == 0, $"{spec.ClientId}: {ack}, expected reason code 0x00");
        return client;
    }

    public static Task<RawMqttClient> Connect5Async(this TestServer server, string clientId, bool cleanStart = true, uint? sessionExpiry = null, ushort keepAlive = 60)
    {
        var props = new Props();
        if (sessionExpiry is { } expiry)
        {
            props.U32(Prop.SessionExpiryInterval, expiry);
        }

        return server.Connect5Async(new Connect5 { ClientId = clientId, CleanStart = cleanStart, KeepAlive = keepAlive, Properties = props });
    }

    public static async Task<ConnAck5> ExpectConnAck5Async(this RawMqttClient client, TimeSpan? timeout = null)
        => ConnAck5.Parse(await client.ExpectPacketAsync(PacketKind.ConnAck, timeout));

    public static async Task<Publish5> ExpectPublish5Async(this RawMqttClient client, TimeSpan? timeout = null)
        => Publish5.Parse(await client.ExpectPacketAsync(PacketKind.Publish, timeout));

    /// <summary>An acknowledgement of <paramref name="kind"/> for <paramref name="packetId"/>; deliveries that come first are kept.</summary>
    public static async Task<Ack5> ExpectAck5Async(this RawMqttClient client, PacketKind kind, ushort packetId, TimeSpan? timeout = null)
    {
        var ack = Ack5.Parse(await client.ExpectDeferringPublishesAsync(kind, timeout));
        Assert.True(ack.PacketId == packetId, $"{client.Name}: expected {kind} for packet id {packetId}, got {ack}");
        return ack;
    }

    /// <summary>Expects DISCONNECT from the server (deliveries before it are allowed and dropped), then the close.</summary>
    public static async Task<Disconnect5> ExpectDisconnect5Async(this RawMqttClient client, TimeSpan? timeout = null)
    {
        while (true)
        {
            var frame = await client.ReceiveAsync(timeout);
            Assert.True(frame is not null, $"{client.Name}: expected DISCONNECT, but the connection was closed without one ({client.CloseReason})");
            if (frame.Kind == PacketKind.Publish)
            {
                continue;
            }

            Assert.True(frame.Kind == PacketKind.Disconnect, $"{client.Name}: expected DISCONNECT, got {frame}");
            var disconnect = Disconnect5.Parse(frame);
            await client.ExpectClosedAsync();
            return disconnect;
        }
    }

    /// <summary>Expects DISCONNECT with <paramref name="reason"/> then the close.</summary>
    public static async Task<Disconnect5> ExpectDisconnect5Async(this RawMqttClient client, byte reason, TimeSpan? timeout = null)
    {
        var disconnect = await client.ExpectDisconnect5Async(timeout);
        Assert.True(disconnect.ReasonCode == reason, $"{client.Name}: expected DISCONNECT 0x{reason:X2}, got {disconnect}");
        // [MQTT-3.14.2-2]: the server never sends a Session Expiry Interval on DISCONNECT.
        Assert.False(disconnect.Properties.Has(Prop.SessionExpiryInterval), $"server DISCONNECT with Session Expiry Interval: {disconnect}");
        return disconnect;
    }

    /// <summary>
    /// Refusal of a CONNECT: either CONNACK with <paramref name="reason"/> (the MAY of [MQTT-3.1.4-1]) then the close,
    /// or a close without anything. Never a DISCONNECT before a CONNACK [MQTT-3.14.0-1].
    /// </summary>
    public static async Task ExpectConnectRefused5Async(this RawMqttClient client, byte reason)
    {
        var frame = await client.ReceiveAsync();
        if (frame is null)
        {
            return;
        }

        Assert.True(frame.Kind == PacketKind.ConnAck, $"{client.Name}: expected CONNACK 0x{reason:X2} or a close, got {frame}");
        var ack = ConnAck5.Parse(frame);
        Assert.True(ack.ReasonCode == reason, $"{client.Name}: expected CONNACK 0x{reason:X2}, got {ack}");
        Assert.False(ack.SessionPresent, "a refusing CONNACK has session present 0 [MQTT-3.2.2-6]");
        await client.ExpectClosedAsync();
    }

    public static async Task<byte[]> Subscribe5Async(this RawMqttClient client, Props? properties, params Sub[] subscriptions)
    {
        var id = client.NextPacketId();
        await client.SendAsync(Packets5.Subscribe(id, properties, subscriptions));
        var ack = await client.ExpectAck5Async(PacketKind.SubAck, id);
        Assert.True(ack.ReasonCodes.Length == subscriptions.Length, $"{client.Name}: one reason code per filter [MQTT-3.8.4-6]: {ack}");
        return ack.ReasonCodes;
    }

    /// <summary>SUBSCRIBE and assert every filter was granted its requested QoS.</summary>
    public static async Task Subscribe5GrantedAsync(this RawMqttClient client, params Sub[] subscriptions)
    {
        var codes = await client.Subscribe5Async(null, subscriptions);
        Assert.Equal(subscriptions.Select(s => (byte)s.Qos).ToArray(), codes);
    }

    public static Task Subscribe5GrantedAsync(this RawMqttClient client, string filter, int qos)
        => client.Subscribe5GrantedAsync(new Sub(filter, qos));

    /// <summary>Publishes with MQTT 5 and completes the QoS flow; returns the PUBACK / PUBREC (null for QoS 0).</summary>
    public static async Task<Ack5?> Publish5Async(this RawMqttClient client, string topic, string payload, int qos = 0, Props? properties = null, bool retain = false)
    {
        var id = qos > 0 ? client.NextPacketId() : (ushort)0;
        await client.SendAsync(Packets5.Publish(topic, payload, qos, id, properties, retain));
        if (qos == 0)
        {
            return null;
        }

        if (qos == 1)
        {
            return await client.ExpectAck5Async(PacketKind.PubAck, id);
        }

        var pubRec = await client.ExpectAck5Async(PacketKind.PubRec, id);
        if (pubRec.ReasonCode < 0x80)
        {
            await client.SendAsync(Packets5.Ack(PacketKind.PubRel, id));
            var pubComp = await client.ExpectAck5Async(PacketKind.PubComp, id);
            Assert.True(pubComp.ReasonCode == 0, $"{client.Name}: {pubComp}");
        }

        return pubRec;
    }

    /// <summary>The subscriber's side of the flow for a received PUBLISH.</summary>
    public static async Task Acknowledge5Async(this RawMqttClient client, Publish5 publish)
    {
        if (publish.Qos == 1)
        {
            await client.SendAsync(Packets5.Ack(PacketKind.PubAck, publish.PacketId));
        }
        else if (publish.Qos == 2)
        {
            await client.SendAsync(Packets5.Ack(PacketKind.PubRec, publish.PacketId));
            await client.ExpectAck5Async(PacketKind.PubRel, publish.PacketId);
            await client.SendAsync(Packets5.Ack(PacketKind.PubComp, publish.PacketId));
        }
    }

    /// <summary>The next PUBLISH, asserted to carry <paramref name="payload"/>, acknowledged.</summary>
    public static async Task<Publish5> ExpectPayload5Async(this RawMqttClient client, string payload, TimeSpan? timeout = null)
    {
        var publish = await client.ExpectPublish5Async(timeout);
        Assert.True(publish.Text == payload, $"{client.Name}: expected the message '{payload}', got {publish}");
        await client.Acknowledge5Async(publish);
        return publish;
    }

    /// <summary>Sends DISCONNECT (optionally with a reason and properties) and waits for the server to close.</summary>
    public static async Task Disconnect5Async(this RawMqttClient client, byte reason = 0, Props? properties = null)
    {
        await client.SendAsync(Packets5.Disconnect(reason, properties));
        await client.ExpectClosedAsync();
    }
}
