using Starling.Testing;

namespace Starling.Conformance.Tests.V5;

/// <summary>MQTT 5.0 sections 3.1 and 3.2: CONNECT validation, its properties, and what CONNACK announces.</summary>
public sealed class ConnectTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private TestServer Server => fixture.Server;

    private async Task<RawMqttClient> SendConnectAsync(Connect5 spec)
    {
        var client = await Server.OpenAsync(spec.ClientId.Length > 0 ? spec.ClientId : "c5");
        await client.SendAsync(Packets5.Connect(spec));
        return client;
    }

    [Fact]
    public async Task MQTT_3_1_4_5_ValidConnectIsAcceptedWithSuccess()
    {
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.Equal(0, ack.ReasonCode);
            Assert.False(ack.SessionPresent);
            await client.PingAsync();
        }
    }

    [Fact]
    public async Task MQTT_3_1_0_1_FirstPacketMustBeConnect()
    {
        await using var client = await Server.OpenAsync();
        await client.SendAsync(Packets5.Subscribe(1, new Sub(Names.Topic())));
        // No CONNACK was sent, so no DISCONNECT may be either [MQTT-3.14.0-1]: just the close.
        await client.ExpectClosedAsync();
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_0_2_SecondConnectIsProtocolError()
    {
        var id = Names.ClientId();
        await using var client = await Server.Connect5Async(id);
        await client.SendAsync(Packets5.Connect(new Connect5 { ClientId = id }));
        await client.ExpectDisconnect5Async(0x82);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_3_ReservedConnectFlagIsMalformed()
    {
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), FlagsOverride = 0x03 });
        await client.ExpectConnectRefused5Async(0x81);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_1_2_11_WillQosWithoutWillFlagIsMalformed()
    {
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), FlagsOverride = 0x0A });
        await client.ExpectConnectRefused5Async(0x81);
    }

    [Fact]
    public async Task MQTT_3_1_2_13_WillRetainWithoutWillFlagIsMalformed()
    {
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), FlagsOverride = 0x22 });
        await client.ExpectConnectRefused5Async(0x81);
    }

    [Fact]
    public async Task MQTT_2_2_2_DuplicatePropertyInConnectIsProtocolError()
    {
        var props = new Props().U32(Prop.SessionExpiryInterval, 10).U32(Prop.SessionExpiryInterval, 20);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x82);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_2_2_UnknownPropertyInConnectIsMalformed()
    {
        var props = new Props().Byte(0x7F, 1);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x81);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_2_2_2_PropertyNotAllowedInConnectIsRefused()
    {
        // Topic Alias belongs to PUBLISH only.
        var props = new Props().U16(Prop.TopicAlias, 1);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        var frame = await client.ReceiveAsync();
        if (frame is not null)
        {
            var ack = ConnAck5.Parse(frame);
            Assert.True(ack.ReasonCode is 0x81 or 0x82, $"expected CONNACK 0x81 or 0x82, got {ack}");
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task MQTT_2_2_2_DuplicateUserPropertiesAreAllowed()
    {
        var props = new Props().User("k", "1").User("k", "2");
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await using (client)
        {
            Assert.Equal(0, ack.ReasonCode);
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_ReceiveMaximumZeroIsProtocolError()
    {
        var props = new Props().U16(Prop.ReceiveMaximum, 0);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_1_2_MaximumPacketSizeZeroIsProtocolError()
    {
        var props = new Props().U32(Prop.MaximumPacketSize, 0);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_1_2_RequestProblemInformationOtherThan0Or1IsProtocolError()
    {
        var props = new Props().Byte(Prop.RequestProblemInformation, 2);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_1_2_RequestResponseInformationOtherThan0Or1IsProtocolError()
    {
        var props = new Props().Byte(Prop.RequestResponseInformation, 2);
        await using var client = await SendConnectAsync(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await client.ExpectConnectRefused5Async(0x82);
    }

    [Fact]
    public async Task MQTT_3_1_3_6_ZeroLengthClientIdGetsAssignedClientIdentifier()
    {
        var (first, ack1) = await Server.ConnectRaw5Async(new Connect5 { ClientId = "" });
        var (second, ack2) = await Server.ConnectRaw5Async(new Connect5 { ClientId = "" });
        await using (first)
        await using (second)
        {
            Assert.Equal(0, ack1.ReasonCode);
            var id1 = ack1.Properties.Text(Prop.AssignedClientIdentifier);
            var id2 = ack2.Properties.Text(Prop.AssignedClientIdentifier);
            // [MQTT-3.1.3-7], [MQTT-3.2.2-16]: returned in CONNACK, new and not used by any other session.
            Assert.False(string.IsNullOrEmpty(id1), $"no Assigned Client Identifier: {ack1}");
            Assert.False(string.IsNullOrEmpty(id2), $"no Assigned Client Identifier: {ack2}");
            Assert.NotEqual(id1, id2);

            // Both sessions work independently.
            var topic = Names.Topic();
            await first.Subscribe5GrantedAsync(topic, 1);
            await second.Publish5Async(topic, "to-first", 1);
            await first.ExpectPayload5Async("to-first");
        }
    }

    [Fact]
    public async Task MQTT_3_2_2_16_AssignedClientIdentifierIsOnlySentForZeroLengthId()
    {
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            Assert.False(ack.Properties.Has(Prop.AssignedClientIdentifier), ack.ToString());
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_4_CleanStartDiscardsSessionAndReportsNoSessionPresent()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.Connect5Async(id, cleanStart: true, sessionExpiry: 300))
        {
            await client.Subscribe5GrantedAsync(topic, 1);
            await client.Disconnect5Async();
        }

        var (again, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = id, CleanStart = true, Properties = new Props().U32(Prop.SessionExpiryInterval, 300) });
        await using (again)
        {
            Assert.False(ack.SessionPresent, "[MQTT-3.2.2-2] Clean Start 1 reports session present 0");
            var marker = Names.Topic("marker");
            await again.Subscribe5GrantedAsync(marker, 1);
            await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
            await publisher.Publish5Async(topic, "old-subscription", 1);
            await publisher.Publish5Async(marker, "marker", 1);
            await again.ExpectPayload5Async("marker");
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_5_CleanStart0ResumesExistingSession()
    {
        var id = Names.ClientId();
        var topic = Names.Topic();
        await using (var client = await Server.Connect5Async(id, cleanStart: true, sessionExpiry: 300))
        {
            await client.Subscribe5GrantedAsync(topic, 1);
            await client.Disconnect5Async();
        }

        await using (var publisher = await Server.Connect5Async(Names.ClientId("pub")))
        {
            await publisher.Publish5Async(topic, "queued", 1);
        }

        var (again, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = id, CleanStart = false, Properties = new Props().U32(Prop.SessionExpiryInterval, 300) });
        await using (again)
        {
            Assert.True(ack.SessionPresent, "[MQTT-3.2.2-3] Clean Start 0 with a stored session reports session present 1");
            await again.ExpectPayload5Async("queued");
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_6_CleanStart0WithoutSessionCreatesOne()
    {
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), CleanStart = false });
        await using (client)
        {
            Assert.Equal(0, ack.ReasonCode);
            Assert.False(ack.SessionPresent, "[MQTT-3.2.2-3] no stored session: session present 0");
        }
    }

    [Fact]
    public async Task MQTT_3_1_4_3_TakeoverSendsDisconnect0x8EToExistingConnection()
    {
        var id = Names.ClientId();
        await using var first = await Server.Connect5Async(id);
        await using var second = await Server.Connect5Async(id);
        await first.ExpectDisconnect5Async(0x8E);
        await second.PingAsync();
    }

    [Fact]
    public async Task MQTT_3_2_0_2_OnlyOneConnAckPerConnection()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.PingAsync();
        await client.ExpectNothingAsync();
    }

    [Fact]
    public async Task MQTT_3_2_2_CONNACK_AnnouncesServerCapabilities()
    {
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId() });
        await using (client)
        {
            // Defaults: Receive Maximum 1024, Topic Alias Maximum 10, Maximum Packet Size announced; QoS 2, retain,
            // wildcards, subscription identifiers and shared subscriptions supported (absent properties mean "available").
            Assert.Equal(1024u, ack.Properties.Number(Prop.ReceiveMaximum));
            Assert.Equal(10u, ack.Properties.Number(Prop.TopicAliasMaximum));
            Assert.NotNull(ack.Properties.Number(Prop.MaximumPacketSize));
            Assert.False(ack.Properties.Has(Prop.MaximumQoS), ack.ToString());
            Assert.False(ack.Properties.Has(Prop.RetainAvailable) && ack.Properties.Number(Prop.RetainAvailable) == 0, ack.ToString());
            Assert.NotEqual(0u, ack.Properties.Number(Prop.WildcardSubscriptionAvailable) ?? 1);
            Assert.NotEqual(0u, ack.Properties.Number(Prop.SubscriptionIdentifierAvailable) ?? 1);
            Assert.NotEqual(0u, ack.Properties.Number(Prop.SharedSubscriptionAvailable) ?? 1);
            // Nothing that only a CONNECT or an enhanced authentication carries [MQTT-4.12.0-6].
            Assert.False(ack.Properties.Has(Prop.AuthenticationMethod), ack.ToString());
            Assert.False(ack.Properties.Has(Prop.ServerKeepAlive), "[MQTT-3.2.2-22] keep-alive 60 is within limits: no Server Keep Alive");
            Assert.False(ack.Properties.Has(Prop.SessionExpiryInterval), "the requested expiry was granted: no Session Expiry Interval");
        }
    }

    [Fact]
    public async Task MQTT_3_1_2_28_NoResponseInformationWhenNotRequested()
    {
        var props = new Props().Byte(Prop.RequestResponseInformation, 0);
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await using (client)
        {
            Assert.False(ack.Properties.Has(Prop.ResponseInformation), ack.ToString());
        }
    }

    [Fact]
    public async Task MQTT_4_12_0_1_UnsupportedAuthenticationMethodIsRefusedWith0x8C()
    {
        var props = new Props().Str(Prop.AuthenticationMethod, "NO-SUCH-METHOD");
        var (client, ack) = await Server.ConnectRaw5Async(new Connect5 { ClientId = Names.ClientId(), Properties = props });
        await using (client)
        {
            Assert.True(ack.ReasonCode is 0x8C or 0x87, $"expected CONNACK 0x8C (or 0x87), got {ack}");
            Assert.False(ack.SessionPresent, "[MQTT-3.2.2-6]");
            // [MQTT-3.2.2-7]: reason code 0x80 or above closes the connection.
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task MQTT_4_12_0_7_AuthWithoutAuthenticationMethodIsProtocolError()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(Packets5.Auth(0x19));
        await client.ExpectDisconnect5Async(0x82);
        await Server.AssertStillServingAsync();
    }

    [Fact]
    public async Task MQTT_3_15_1_1_AuthWithReservedFlagsIsMalformed()
    {
        await using var client = await Server.Connect5Async(Names.ClientId());
        await client.SendAsync(new byte[] { 0xF1, 0x00 });
        var frame = await client.ReceiveAsync();
        if (frame is not null)
        {
            var disconnect = Disconnect5.Parse(frame);
            Assert.True(disconnect.ReasonCode is 0x81 or 0x82, $"expected DISCONNECT 0x81 (or 0x82), got {disconnect}");
            await client.ExpectClosedAsync();
        }
    }

    [Fact]
    public async Task MQTT_3_1_4_6_DataAfterRefusedConnectIsNotProcessed()
    {
        var topic = Names.Topic();
        await using var observer = await Server.Connect5Async(Names.ClientId("obs"));
        await observer.Subscribe5GrantedAsync(topic, 0);
        await using var client = await Server.OpenAsync();
        // Refused (unsupported authentication method) with a PUBLISH right behind the CONNECT.
        await client.SendTogetherAsync(
            Packets5.Connect(new Connect5 { ClientId = Names.ClientId(), Properties = new Props().Str(Prop.AuthenticationMethod, "NOPE") }),
            Packets5.Publish(topic, "must-not-arrive"));
        var ack = await client.ExpectConnAck5Async();
        Assert.True(ack.ReasonCode >= 0x80, ack.ToString());
        await client.ExpectClosedAsync();
        await using var publisher = await Server.Connect5Async(Names.ClientId("pub"));
        await publisher.Publish5Async(topic, "marker");
        await observer.ExpectPayload5Async("marker");
    }
}
