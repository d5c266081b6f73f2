using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// What a session's outbound flow needs from the connection it is bound to: a place to put PUBLISH and ack packets.
/// The session side never names the connection class; the connection's writer implements this. Members are called
/// under the outbound flow's lock, from store commit callbacks, and (<see cref="SendAck"/>) from the client's own read
/// loop through BrokerStorage.Acknowledge; none may block or take a session lock: they only queue.
/// </summary>
internal interface IDeliverySink
{
    /// <summary>Whether the PUBLISH for this delivery stays within the client's Maximum Packet Size [MQTT-3.1.2-24].</summary>
    bool Fits(in Delivery delivery);

    /// <summary>
    /// Queues a QoS 0 PUBLISH (dropped and counted when the client is not keeping up). Returns true when the client's
    /// data lane is congested but still moving: the publisher's read loop then waits for it (back-pressure).
    /// </summary>
    bool SendQoS0(in Delivery delivery, int extraRoom = 0);

    /// <summary>Queues a QoS 1/2 PUBLISH; the queue entry holds a counted reference until it is encoded.</summary>
    void SendPublish(in Delivery delivery, bool dup);

    /// <summary>Queues an acknowledgement (PUBREL from the outbound flow).</summary>
    void SendAck(PacketType type, ushort packetId, ReasonCode reason);

    /// <summary>Whether the client's protocol has failure reason codes in PUBACK / PUBREC (MQTT 5).</summary>
    bool HasFailureAcks { get; }

    /// <summary>
    /// Closes the connection without the acknowledgement a PUBLISH waited for (3.1.1: the store refused the message and
    /// there is no failure code; the client sends it again after reconnecting). Only starts the close; never blocks.
    /// </summary>
    void CloseUnacknowledged(string cause);
}
