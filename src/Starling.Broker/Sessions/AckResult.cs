using Starling.Protocol;

namespace Starling.Broker;

/// <summary>What an acknowledgement from the client (PUBACK, PUBREC, PUBCOMP) did to the outbound flow.</summary>
internal enum AckOutcome : byte
{
    /// <summary>It advanced or ended the flow of its packet id (a repeated PUBREC is answered with PUBREL again).</summary>
    Handled,

    /// <summary>
    /// No delivery with that packet id is in flight, or the ack came from a connection the session is no longer bound
    /// to: nothing changes (a PUBREC still gets PUBREL 0x92). Late or repeated acks are normal after a reconnect.
    /// </summary>
    Ignored,

    /// <summary>
    /// The packet id is in flight but waits for another acknowledgement (a PUBREC for a QoS 1 delivery, a PUBACK for a
    /// QoS 2 one, a PUBCOMP before PUBREL was sent): a protocol violation. Nothing changes in the flow; the connection
    /// closes it ([MQTT-4.8.0-1]; v5: DISCONNECT 0x82, [MQTT-4.13.1-1]).
    /// </summary>
    WrongType,
}

/// <summary>
/// The result of <see cref="OutboundFlow.OnPubAck"/>, <see cref="OutboundFlow.OnPubRec"/> and
/// <see cref="OutboundFlow.OnPubComp"/>, returned to the connection's read loop, which acts on it.
/// </summary>
/// <param name="Outcome">What the ack did.</param>
/// <param name="Awaited">For <see cref="AckOutcome.WrongType"/>: the acknowledgement the packet id waits for.</param>
internal readonly record struct AckResult(AckOutcome Outcome, PacketType Awaited = default)
{
    public static AckResult Handled => new(AckOutcome.Handled);

    public static AckResult Ignored => new(AckOutcome.Ignored);

    /// <summary>A wrong type for a delivery in <paramref name="state"/>.</summary>
    public static AckResult WrongType(DeliveryState state) => new(AckOutcome.WrongType, state switch
    {
        DeliveryState.AwaitingPubAck => PacketType.PubAck,
        DeliveryState.AwaitingPubRec => PacketType.PubRec,
        _ => PacketType.PubComp,
    });
}
