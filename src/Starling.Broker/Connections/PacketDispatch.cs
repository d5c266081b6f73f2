using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Hands a decoded packet other than PUBLISH and the publish acknowledgements (MqttConnection decodes those on its hot
/// path) to the broker-wide handler for its type. Runs on the connection's read loop.
/// </summary>
internal static class PacketDispatch
{
    /// <summary>Handles <paramref name="packet"/>; returns a congested subscriber (retained messages of a SUBSCRIBE).</summary>
    public static ConnectionWriter? Dispatch(MqttConnection connection, MqttPacket packet)
    {
        var services = connection.Services;
        switch (packet)
        {
            case ConnectPacket connect when !connection.IsConnected:
                services.Connect.Handle(connection, connect);
                break;
            case ConnectPacket:
                throw new MqttProtocolException(ReasonCode.ProtocolError, "second CONNECT on one connection [MQTT-3.1.0-2]");
            case SubscribePacket subscribe:
                return services.Subscribe.HandleSubscribe(connection, subscribe);
            case UnsubscribePacket unsubscribe:
                services.Subscribe.HandleUnsubscribe(connection, unsubscribe);
                break;
            case PingReqPacket:
                connection.Writer.SendControl(PingRespPacket.Instance);
                break;
            case DisconnectPacket disconnect:
                services.Connect.HandleDisconnect(connection, disconnect);
                break;
            case AuthPacket auth when connection.Version == ProtocolVersion.V500:
                services.EnhancedAuth.HandleAuth(connection, auth);
                break;
            default:
                throw new MqttProtocolException(ReasonCode.ProtocolError, $"a client may not send {packet.Type}");
        }
        return null;
    }
}
