using System.Text;
using Starling.Broker.Security;
using Starling.Broker.Security.EnhancedAuth;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests;

/// <summary>The enhanced-authentication plug-in interface with a made-up two-step method, over in-memory pipes.</summary>
public sealed class EnhancedAuthPluginTests
{
    private const string Method = "TEST-2STEP";

    /// <summary>"hello" -> challenge "who?"; "user:NAME" -> success "welcome NAME" (may publish only to NAME/#); "bad" -> 0x87.</summary>
    private sealed class TwoStep : IEnhancedAuthenticator
    {
        public string Method => EnhancedAuthPluginTests.Method;

        public List<EnhancedAuthContext> Contexts { get; } = [];

        public IEnhancedAuthSession Start(EnhancedAuthContext context)
        {
            Contexts.Add(context);
            return new Session();
        }

        private sealed class Session : IEnhancedAuthSession
        {
            public EnhancedAuthStep Step(ReadOnlySpan<byte> clientData)
            {
                var text = Encoding.UTF8.GetString(clientData);
                if (text == "hello")
                {
                    return EnhancedAuthStep.Continue("who?"u8.ToArray());
                }
                if (text.StartsWith("user:", StringComparison.Ordinal))
                {
                    var name = text[5..];
                    return EnhancedAuthStep.Success(Encoding.UTF8.GetBytes("welcome " + name), name, new Prefix(name + "/"));
                }
                return EnhancedAuthStep.Fail(ReasonCode.NotAuthorized, "bad answer");
            }
        }
    }

    private sealed class Prefix(string prefix) : IClientAuthorization
    {
        public bool CanPublish(string topic) => topic.StartsWith(prefix, StringComparison.Ordinal);
        public bool CanSubscribe(string filter) => true;
        public bool CanReceive(string topic) => true;
    }

    private static MqttBroker Broker(TwoStep plugin)
    {
        var options = new BrokerOptions();
        options.Security.EnhancedAuthenticators.Add(plugin);
        return new MqttBroker(options);
    }

    private static AuthPacket Auth(ReasonCode code, string data, string method = Method)
        => new() { ReasonCode = code, Properties = new MqttProperties { AuthenticationMethod = method, AuthenticationData = Encoding.UTF8.GetBytes(data) } };

    private static async Task<ConnAckPacket> AuthenticateAsync(RawMqttClient client, string user)
    {
        var challenge = await client.ExpectAsync<AuthPacket>();
        Assert.Equal(ReasonCode.ContinueAuthentication, challenge.ReasonCode);
        Assert.Equal(Method, challenge.Properties?.AuthenticationMethod);
        Assert.Equal("who?", Encoding.UTF8.GetString(challenge.Properties!.AuthenticationData!));
        await client.SendAsync(Auth(ReasonCode.ContinueAuthentication, "user:" + user));
        return await client.ExpectAsync<ConnAckPacket>();
    }

    private static Task SendConnectAsync(RawMqttClient client, string clientId, string data, uint sessionExpiry = 0)
        => client.SendAsync(new ConnectPacket
        {
            ProtocolName = "MQTT",
            ProtocolVersion = ProtocolVersion.V500,
            ClientId = clientId,
            CleanSession = true,
            Properties = new MqttProperties
            {
                AuthenticationMethod = Method,
                AuthenticationData = Encoding.UTF8.GetBytes(data),
                SessionExpiryInterval = sessionExpiry,
            },
        });

    [Fact]
    public async Task Two_step_exchange_ends_in_CONNACK_with_method_data_identity_and_permissions()
    {
        var plugin = new TwoStep();
        await using var broker = Broker(plugin);
        await using var client = RawMqttClient.Attach(broker, ProtocolVersion.V500);
        await SendConnectAsync(client, "p1", "hello", sessionExpiry: 30);
        var ack = await AuthenticateAsync(client, "ann");
        Assert.Equal(ReasonCode.Success, ack.ReasonCode);
        Assert.Equal(Method, ack.Properties?.AuthenticationMethod);
        Assert.Equal("welcome ann", Encoding.UTF8.GetString(ack.Properties!.AuthenticationData!));
        // The rest of CONNECT happened as usual (the usual CONNACK properties are there).
        Assert.NotNull(ack.Properties.MaximumPacketSize);
        Assert.Equal("p1", Assert.Single(plugin.Contexts).ClientId);

        await client.PublishPacketAsync("ann/x", "1", QualityOfService.AtLeastOnce, packetId: 1);
        Assert.Equal(ReasonCode.NoMatchingSubscribers, (await client.ExpectAsync<PubAckPacket>()).ReasonCode);
        await client.PublishPacketAsync("bob/x", "1", QualityOfService.AtLeastOnce, packetId: 2);
        Assert.Equal(ReasonCode.NotAuthorized, (await client.ExpectAsync<PubAckPacket>()).ReasonCode);

        // Re-authentication as bob: AUTH 0x18, then AUTH 0x00 with the final data; bob's permissions apply.
        await client.SendAsync(Auth(ReasonCode.ReAuthenticate, "hello"));
        Assert.Equal(ReasonCode.ContinueAuthentication, (await client.ExpectAsync<AuthPacket>()).ReasonCode);
        await client.SendAsync(Auth(ReasonCode.ContinueAuthentication, "user:bob"));
        var done = await client.ExpectAsync<AuthPacket>();
        Assert.Equal(ReasonCode.Success, done.ReasonCode);
        Assert.Equal("welcome bob", Encoding.UTF8.GetString(done.Properties!.AuthenticationData!));
        Assert.True(plugin.Contexts[1].IsReauthentication);
        Assert.Equal("ann", plugin.Contexts[1].CurrentUsername);
        await client.PublishPacketAsync("bob/x", "1", QualityOfService.AtLeastOnce, packetId: 3);
        Assert.Equal(ReasonCode.NoMatchingSubscribers, (await client.ExpectAsync<PubAckPacket>()).ReasonCode);
        await client.PublishPacketAsync("ann/x", "1", QualityOfService.AtLeastOnce, packetId: 4);
        Assert.Equal(ReasonCode.NotAuthorized, (await client.ExpectAsync<PubAckPacket>()).ReasonCode);
    }

    [Fact]
    public async Task Failure_before_CONNACK_refuses_and_during_reauthentication_disconnects()
    {
        var plugin = new TwoStep();
        await using var broker = Broker(plugin);
        await using (var client = RawMqttClient.Attach(broker, ProtocolVersion.V500))
        {
            await SendConnectAsync(client, "f1", "bad");
            Assert.Equal(ReasonCode.NotAuthorized, (await client.ExpectAsync<ConnAckPacket>()).ReasonCode);
            Assert.Null(await client.ReceivePacketAsync());
        }
        await using (var client = RawMqttClient.Attach(broker, ProtocolVersion.V500))
        {
            await SendConnectAsync(client, "f2", "hello");
            Assert.Equal(ReasonCode.Success, (await AuthenticateAsync(client, "ann")).ReasonCode);
            await client.SendAsync(Auth(ReasonCode.ReAuthenticate, "bad"));
            Assert.Equal(ReasonCode.NotAuthorized, (await client.ExpectAsync<DisconnectPacket>()).ReasonCode);
            Assert.Null(await client.ReceivePacketAsync());
        }
        Assert.True(broker.SecurityCounters.AuthenticationFailed >= 2);
    }

    [Fact]
    public async Task Second_CONNECT_or_AUTH_0x19_during_the_exchange_is_a_protocol_error()
    {
        await using var broker = Broker(new TwoStep());
        await using (var client = RawMqttClient.Attach(broker, ProtocolVersion.V500))
        {
            await SendConnectAsync(client, "s1", "hello");
            await client.ExpectAsync<AuthPacket>();
            await SendConnectAsync(client, "s1", "hello");
            Assert.Equal(ReasonCode.ProtocolError, (await client.ExpectAsync<ConnAckPacket>()).ReasonCode);
            Assert.Null(await client.ReceivePacketAsync());
        }
        await using (var client = RawMqttClient.Attach(broker, ProtocolVersion.V500))
        {
            await SendConnectAsync(client, "s2", "hello");
            await client.ExpectAsync<AuthPacket>();
            await client.SendAsync(Auth(ReasonCode.ReAuthenticate, "user:x"));
            Assert.Equal(ReasonCode.ProtocolError, (await client.ExpectAsync<ConnAckPacket>()).ReasonCode);
        }
        // DISCONNECT during the exchange just closes (no CONNACK).
        await using (var client = RawMqttClient.Attach(broker, ProtocolVersion.V500))
        {
            await SendConnectAsync(client, "s3", "hello");
            await client.ExpectAsync<AuthPacket>();
            await client.SendAsync(new DisconnectPacket { ReasonCode = ReasonCode.Success });
            Assert.Null(await client.ReceivePacketAsync());
        }
        Assert.Equal(0, broker.ConnectedClients);
    }
}
