namespace Starling.Broker;

/// <summary>
/// The connection a <see cref="Session"/> is bound to, as the session sees it: the sink its outbound flow sends to,
/// plus the one thing the session registry asks of a connection it displaces. The session side never names the
/// connection class; MqttConnection implements this (its <see cref="Sink"/> is its writer).
/// </summary>
internal interface ISessionOwner
{
    /// <summary>Where the session's outbound flow puts PUBLISH and PUBREL packets; the same object for the owner's life.</summary>
    IDeliverySink Sink { get; }

    /// <summary>A newer connection took the session over [MQTT-3.1.4-2]: close (v5: DISCONNECT 0x8E). Called outside every session lock.</summary>
    void TakeOver();
}
