using Starling.Protocol;

namespace Starling.Client;

/// <summary>Builds the CONNECT packet a <see cref="MqttClient"/> sends from its <see cref="MqttClientOptions"/>.</summary>
internal static class ConnectPacketFactory
{
    /// <summary>The CONNECT for <paramref name="o"/>; v5 properties are copied from the options, never shared.</summary>
    public static ConnectPacket Create(MqttClientOptions o)
    {
        MqttProperties? properties = null;
        if (o.ProtocolVersion == ProtocolVersion.V500)
        {
            properties = o.ConnectProperties?.Clone();
            if (o.SessionExpiryInterval is { } expiry)
            {
                (properties ??= new MqttProperties()).SessionExpiryInterval = expiry;
            }
            if (o.ReceiveMaximum is { } receiveMaximum)
            {
                (properties ??= new MqttProperties()).ReceiveMaximum = receiveMaximum;
            }
            if (o.MaximumPacketSize is { } maximumPacketSize)
            {
                (properties ??= new MqttProperties()).MaximumPacketSize = maximumPacketSize;
            }
            if (o.TopicAliasMaximum is { } topicAliasMaximum)
            {
                (properties ??= new MqttProperties()).TopicAliasMaximum = topicAliasMaximum;
            }
        }
        return new ConnectPacket
        {
            ProtocolName = o.ProtocolVersion == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = o.ProtocolVersion,
            CleanSession = o.CleanSession,
            KeepAliveSeconds = o.KeepAliveSeconds,
            ClientId = o.ClientId,
            Username = o.Username,
            Password = o.Password,
            Will = o.Will,
            Properties = properties,
        };
    }
}
