using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Starling.Broker.Storage;
using Starling.Broker.Tests.Sessions;
using Starling.Protocol;

namespace Starling.Broker.Tests;

/// <summary>
/// The outbound flow on its own: a fake sink records what it sends, a FakeTimeProvider drives expiry, and (for the
/// durable case) a store whose commits the test holds back.
/// </summary>
public class OutboundFlowTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly BrokerCounters _counters = new();

    private OutboundFlow NewFlow(BrokerOptions? options = null)
        => new(new SessionServices(options ?? new BrokerOptions(), _counters, _time, new BrokerStorage(null, _time, NullLogger.Instance)));

    private Message NewMessage(string topic, QualityOfService qos, int payload = 4, uint? expirySeconds = null)
        => new(topic, new byte[payload], qos, false,
            expirySeconds is { } e ? new MqttProperties { MessageExpiryInterval = e } : null, "publisher", _time.GetTimestamp());

    private static DeliverResult Deliver(OutboundFlow flow, Message m, QualityOfService? qos = null)
        => flow.Deliver(m, qos ?? m.QoS, false, null, null, 0);

    [Fact]
    public void MQTT_3_3_4_9_only_the_send_window_is_inflight_and_each_ack_releases_the_next_in_order()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 2);
        for (var i = 0; i < 5; i++)
        {
            Deliver(flow, NewMessage($"t/{i}", QualityOfService.AtLeastOnce));
        }

        Assert.Equal(["t/0", "t/1"], sink.Records.Select(r => r.Topic));
        Assert.Equal(2, flow.InflightCount);
        Assert.Equal(3, flow.QueuedCount);

        flow.OnPubAck(sink, sink.Records[0].PacketId);
        Assert.Equal(["t/0", "t/1", "t/2"], sink.Records.Select(r => r.Topic));
        Assert.Equal(2, flow.InflightCount);

        flow.OnPubAck(sink, sink.Records[1].PacketId);
        flow.OnPubAck(sink, sink.Records[2].PacketId);
        Assert.Equal(["t/0", "t/1", "t/2", "t/3", "t/4"], sink.Records.Select(r => r.Topic));
        Assert.All(sink.Records, r => Assert.False(r.Dup));
        // Packet ids in use are distinct [MQTT-2.2.1-3].
        Assert.Equal(5, sink.Records.Select(r => r.PacketId).Distinct().Count());
        Assert.Equal(0, flow.QueuedCount);
    }

    [Fact]
    public void MQTT_4_4_0_1_unacknowledged_PUBLISH_and_PUBREL_are_resent_on_reattach_in_original_order_with_DUP()
    {
        var flow = NewFlow();
        var first = new RecordingSink();
        flow.Attach(first, sendWindow: 10);
        Deliver(flow, NewMessage("a", QualityOfService.AtLeastOnce));
        Deliver(flow, NewMessage("b", QualityOfService.ExactlyOnce));
        Deliver(flow, NewMessage("c", QualityOfService.AtLeastOnce));
        var b = first.Records[1];
        flow.OnPubRec(first, b.PacketId, ReasonCode.Success);
        Assert.Equal(PacketType.PubRel, first.Records[^1].Type);
        flow.Detach();

        var second = new RecordingSink();
        flow.Attach(second, sendWindow: 10);

        var resent = second.Records;
        Assert.Equal(3, resent.Count);
        Assert.Equal((PacketType.Publish, "a", true, first.Records[0].PacketId), (resent[0].Type, resent[0].Topic, resent[0].Dup, resent[0].PacketId));
        // [MQTT-4.3.3-6]: once PUBREL was sent, the PUBLISH is not sent again; the PUBREL is.
        Assert.Equal((PacketType.PubRel, b.PacketId), (resent[1].Type, resent[1].PacketId));
        Assert.Equal((PacketType.Publish, "c", true, first.Records[2].PacketId), (resent[2].Type, resent[2].Topic, resent[2].Dup, resent[2].PacketId));
    }

    [Fact]
    public void Acks_from_a_sink_that_is_no_longer_bound_are_ignored()
    {
        var flow = NewFlow();
        var old = new RecordingSink();
        flow.Attach(old, sendWindow: 10);
        Deliver(flow, NewMessage("a", QualityOfService.AtLeastOnce));
        flow.Detach();
        var current = new RecordingSink();
        flow.Attach(current, sendWindow: 10);

        flow.OnPubAck(old, old.Records[0].PacketId);

        Assert.Equal(1, flow.InflightCount);
        flow.OnPubAck(current, current.Records[0].PacketId);
        Assert.Equal(0, flow.InflightCount);
    }

    [Fact]
    public void Queue_limit_in_messages_drops_and_counts_the_excess()
    {
        var flow = NewFlow(new BrokerOptions { MaxQueuedMessages = 2 });
        for (var i = 0; i < 5; i++)
        {
            Deliver(flow, NewMessage($"t/{i}", QualityOfService.AtLeastOnce));
        }

        Assert.Equal(2, flow.QueuedCount);
        Assert.Equal(3, Interlocked.Read(ref _counters.MessagesDroppedQueueFull));
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Assert.Equal(["t/0", "t/1"], sink.Records.Select(r => r.Topic));
    }

    [Fact]
    public void Queue_limit_in_bytes_drops_and_counts_what_would_pass_it()
    {
        // A message counts topic + payload + properties (Message.AccountedSize): a = 7, b = 7, c = 5 bytes.
        var flow = NewFlow(new BrokerOptions { MaxQueuedBytes = 12 });
        Deliver(flow, NewMessage("a", QualityOfService.AtLeastOnce, payload: 6));
        Deliver(flow, NewMessage("b", QualityOfService.AtLeastOnce, payload: 6));
        Deliver(flow, NewMessage("c", QualityOfService.AtLeastOnce, payload: 4));

        Assert.Equal(2, flow.QueuedCount);
        Assert.Equal(1, Interlocked.Read(ref _counters.MessagesDroppedQueueFull));
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Assert.Equal(["a", "c"], sink.Records.Select(r => r.Topic));
    }

    [Fact]
    public void MQTT_4_3_3_4_QoS2_flow_PUBREC_gets_PUBREL_and_PUBCOMP_ends_it()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Deliver(flow, NewMessage("q2", QualityOfService.ExactlyOnce));
        var publish = sink.Records.Single();
        Assert.Equal((PacketType.Publish, QualityOfService.ExactlyOnce, false), (publish.Type, publish.QoS, publish.Dup));

        flow.OnPubRec(sink, publish.PacketId, ReasonCode.Success);
        // A repeated PUBREC is answered again (the client may not have received the first PUBREL).
        flow.OnPubRec(sink, publish.PacketId, ReasonCode.Success);
        Assert.Equal([(PacketType.PubRel, publish.PacketId, ReasonCode.Success), (PacketType.PubRel, publish.PacketId, ReasonCode.Success)],
            sink.Records.Skip(1).Select(r => (r.Type, r.PacketId, r.Reason)));
        Assert.Equal(1, flow.InflightCount);

        flow.OnPubComp(sink, publish.PacketId);
        Assert.Equal(0, flow.InflightCount);
    }

    [Fact]
    public void PUBREC_for_an_unknown_packet_id_gets_PUBREL_0x92()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);

        flow.OnPubRec(sink, 77, ReasonCode.Success);

        Assert.Equal((PacketType.PubRel, (ushort)77, ReasonCode.PacketIdentifierNotFound), (sink.Records[0].Type, sink.Records[0].PacketId, sink.Records[0].Reason));
    }

    [Fact]
    public void A_PUBREC_failure_code_ends_the_QoS2_flow_and_frees_the_slot()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 1);
        Deliver(flow, NewMessage("a", QualityOfService.ExactlyOnce));
        Deliver(flow, NewMessage("b", QualityOfService.ExactlyOnce));

        flow.OnPubRec(sink, sink.Records[0].PacketId, ReasonCode.UnspecifiedError);

        Assert.Equal(["a", "b"], sink.Records.Select(r => r.Topic));
        Assert.Equal(1, flow.InflightCount);
    }

    /// <summary>
    /// An ack of the wrong type for a packet id in flight is a protocol violation [MQTT-4.8.0-1]: the flow reports it
    /// (the connection closes) and neither answers nor changes anything. Issue 16, finding 25.
    /// </summary>
    [Fact]
    public void MQTT_4_8_0_1_wrong_ack_types_for_an_inflight_QoS1_delivery_are_reported_and_change_nothing()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Deliver(flow, NewMessage("q1", QualityOfService.AtLeastOnce));
        var id = sink.Records.Single().PacketId;

        Assert.Equal(new AckResult(AckOutcome.WrongType, PacketType.PubAck), flow.OnPubRec(sink, id, ReasonCode.Success));
        Assert.Equal(new AckResult(AckOutcome.WrongType, PacketType.PubAck), flow.OnPubComp(sink, id));

        Assert.Single(sink.Records); // no PUBREL for a QoS 1 delivery
        Assert.Equal(1, flow.InflightCount);
        Assert.Equal(AckResult.Handled, flow.OnPubAck(sink, id));
        Assert.Equal(0, flow.InflightCount);
    }

    [Fact]
    public void MQTT_4_8_0_1_wrong_ack_types_for_an_inflight_QoS2_delivery_are_reported_in_each_state()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Deliver(flow, NewMessage("q2", QualityOfService.ExactlyOnce));
        var id = sink.Records.Single().PacketId;

        // Awaiting PUBREC: PUBACK and PUBCOMP (no PUBREL was sent yet) are wrong.
        Assert.Equal(new AckResult(AckOutcome.WrongType, PacketType.PubRec), flow.OnPubAck(sink, id));
        Assert.Equal(new AckResult(AckOutcome.WrongType, PacketType.PubRec), flow.OnPubComp(sink, id));
        Assert.Single(sink.Records);

        Assert.Equal(AckResult.Handled, flow.OnPubRec(sink, id, ReasonCode.Success));
        // Awaiting PUBCOMP: PUBACK is wrong; a repeated PUBREC is answered again.
        Assert.Equal(new AckResult(AckOutcome.WrongType, PacketType.PubComp), flow.OnPubAck(sink, id));
        Assert.Equal(AckResult.Handled, flow.OnPubRec(sink, id, ReasonCode.Success));
        Assert.Equal([PacketType.Publish, PacketType.PubRel, PacketType.PubRel], sink.Records.Select(r => r.Type));
        Assert.Equal(1, flow.InflightCount);
        Assert.Equal(AckResult.Handled, flow.OnPubComp(sink, id));
        Assert.Equal(0, flow.InflightCount);
    }

    [Fact]
    public void Acks_for_packet_ids_not_in_flight_or_from_an_unbound_sink_are_ignored()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        Deliver(flow, NewMessage("q1", QualityOfService.AtLeastOnce));
        var id = sink.Records.Single().PacketId;

        Assert.Equal(AckResult.Ignored, flow.OnPubAck(sink, (ushort)(id + 1)));
        Assert.Equal(AckResult.Ignored, flow.OnPubComp(sink, (ushort)(id + 1)));
        Assert.Equal(AckResult.Ignored, flow.OnPubRec(new RecordingSink(), id, ReasonCode.Success));
        Assert.Equal(AckResult.Ignored, flow.OnPubComp(new RecordingSink(), id));
        Assert.Equal(1, flow.InflightCount);
    }

    [Fact]
    public void MQTT_3_3_2_5_a_queued_message_whose_expiry_passed_is_not_sent()
    {
        var flow = NewFlow();
        Deliver(flow, NewMessage("short", QualityOfService.AtLeastOnce, expirySeconds: 5));
        Deliver(flow, NewMessage("long", QualityOfService.AtLeastOnce, expirySeconds: 60));
        _time.Advance(TimeSpan.FromSeconds(10));

        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);

        Assert.Equal(["long"], sink.Records.Select(r => r.Topic));
        Assert.Equal(1, Interlocked.Read(ref _counters.MessagesExpired));
    }

    [Fact]
    public void MQTT_3_1_2_25_a_message_too_large_for_the_client_is_dropped_as_if_sent()
    {
        var flow = NewFlow();
        var sink = new RecordingSink { MaxPayload = 8 };
        flow.Attach(sink, sendWindow: 10);

        Deliver(flow, NewMessage("big", QualityOfService.AtLeastOnce, payload: 100));
        Deliver(flow, NewMessage("small", QualityOfService.AtLeastOnce, payload: 4));

        Assert.Equal(["small"], sink.Records.Select(r => r.Topic));
        Assert.Equal(1, flow.InflightCount);
        Assert.Equal(1, Interlocked.Read(ref _counters.MessagesDroppedTooLarge));
    }

    [Fact]
    public void QoS0_delivery_returns_the_sink_when_it_reports_congestion()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);

        Assert.Null(Deliver(flow, NewMessage("a", QualityOfService.AtMostOnce)).Congested);
        sink.Congested = true;
        Assert.Same(sink, Deliver(flow, NewMessage("b", QualityOfService.AtMostOnce)).Congested);
        Assert.False(Deliver(flow, NewMessage("c", QualityOfService.AtMostOnce)).Ticket.IsPending);
    }

    [Fact]
    public void An_ended_flow_accepts_nothing()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);
        flow.End();

        Deliver(flow, NewMessage("a", QualityOfService.AtLeastOnce));

        Assert.Empty(sink.Records);
        Assert.Equal(0, flow.QueuedCount);
    }

    [Fact]
    public async Task QoS2_PUBLISH_to_a_durable_session_leaves_only_after_its_packet_id_is_committed()
    {
        using var store = new GatedStore();
        var storage = new BrokerStorage(store, _time, NullLogger.Instance);
        try
        {
            var flow = NewFlow();
            flow.SetJournal(new SessionJournal(storage, "durable"));
            var sink = new RecordingSink();
            flow.Attach(sink, sendWindow: 10);

            var result = Deliver(flow, NewMessage("q2", QualityOfService.ExactlyOnce));

            // The delivery's store operations are named by the ticket (the publisher's PUBREC waits for it) ...
            Assert.True(result.Ticket.IsPending);
            // ... and the PUBLISH waits for the commit of "sent with packet id N": the writer is held at the gate.
            await store.WaitForApplyAsync();
            Assert.Empty(sink.Records);
            Assert.Equal(1, flow.InflightCount);

            store.Open();
            await sink.WaitForCountAsync(1);
            var publish = sink.Records.Single();
            Assert.Equal((PacketType.Publish, QualityOfService.ExactlyOnce, false), (publish.Type, publish.QoS, publish.Dup));

            // PUBREL likewise waits for "PUBREC received" to be committed, then the flow ends on PUBCOMP.
            flow.OnPubRec(sink, publish.PacketId, ReasonCode.Success);
            await sink.WaitForCountAsync(2);
            Assert.Equal((PacketType.PubRel, publish.PacketId), (sink.Records[1].Type, sink.Records[1].PacketId));
            flow.OnPubComp(sink, publish.PacketId);
            Assert.Equal(0, flow.InflightCount);
        }
        finally
        {
            store.Open();
            await storage.StopAsync();
        }
    }

    [Fact]
    public async Task MQTT_4_3_3_4_PUBREL_to_a_durable_session_leaves_only_after_PUBREC_received_is_committed()
    {
        using var store = new GatedStore();
        var storage = new BrokerStorage(store, _time, NullLogger.Instance);
        try
        {
            var flow = NewFlow();
            flow.SetJournal(new SessionJournal(storage, "durable"));
            var sink = new RecordingSink();
            flow.Attach(sink, sendWindow: 10);
            store.Open();
            Deliver(flow, NewMessage("q2", QualityOfService.ExactlyOnce));
            await sink.WaitForCountAsync(1);
            var publish = sink.Records.Single();
            // The PUBLISH's callback ran: the writer is idle, and the next transaction is held at the gate.
            store.Close();

            flow.OnPubRec(sink, publish.PacketId, ReasonCode.Success);

            // "PUBREC received" is being written (held at the gate): the PUBREL has not left, the flow awaits PUBCOMP.
            await store.WaitForApplyAsync();
            Assert.Equal([PacketType.Publish], sink.Records.Select(r => r.Type));
            Assert.Equal(1, flow.InflightCount);

            store.Open();
            await sink.WaitForCountAsync(2);
            Assert.Equal([(PacketType.Publish, publish.PacketId), (PacketType.PubRel, publish.PacketId)],
                sink.Records.Select(r => (r.Type, r.PacketId)));
            Assert.Equal(ReasonCode.Success, sink.Records[1].Reason);
            flow.OnPubComp(sink, publish.PacketId);
            Assert.Equal(0, flow.InflightCount);
        }
        finally
        {
            store.Open();
            await storage.StopAsync();
        }
    }

    [Fact]
    public async Task MQTT_4_4_0_1_resends_to_a_reattached_durable_session_leave_only_after_the_next_commit_in_order()
    {
        using var store = new GatedStore();
        var storage = new BrokerStorage(store, _time, NullLogger.Instance);
        try
        {
            var flow = NewFlow();
            flow.SetJournal(new SessionJournal(storage, "durable"));
            var first = new RecordingSink();
            flow.Attach(first, sendWindow: 10);
            store.Open();
            // Unacknowledged: "a" (QoS 1, no PUBACK), "b" (QoS 2, PUBREC received: PUBREL sent), "c" (QoS 2, no PUBREC).
            Deliver(flow, NewMessage("a", QualityOfService.AtLeastOnce));
            Deliver(flow, NewMessage("b", QualityOfService.ExactlyOnce));
            Deliver(flow, NewMessage("c", QualityOfService.ExactlyOnce));
            await first.WaitForCountAsync(3);
            var sent = first.Records.ToDictionary(r => r.Topic, r => r.PacketId);
            flow.OnPubRec(first, sent["b"], ReasonCode.Success);
            await first.WaitForCountAsync(4);
            Assert.Equal(PacketType.PubRel, first.Records[^1].Type);
            flow.Detach();
            // Everything so far is committed and the writer is idle; a message arrives while the client is away, and
            // its transaction is held at the gate.
            store.Close();
            Deliver(flow, NewMessage("d", QualityOfService.AtLeastOnce));
            await store.WaitForApplyAsync();

            var second = new RecordingSink();
            flow.Attach(second, sendWindow: 10);

            // Nothing is re-sent before the store's next commit.
            Assert.Empty(second.Records);
            Assert.Equal(3, flow.InflightCount);

            store.Open();
            await second.WaitForCountAsync(4);
            var records = second.Records;
            // [MQTT-4.4.0-1] original packet ids, in the original order: DUP PUBLISH, PUBREL (not the PUBLISH
            // [MQTT-4.3.3-6]), DUP PUBLISH; only then the message that was queued meanwhile, as a new PUBLISH.
            Assert.Equal(
                [
                    (PacketType.Publish, "a", true, sent["a"]),
                    (PacketType.PubRel, "", false, sent["b"]),
                    (PacketType.Publish, "c", true, sent["c"]),
                    (PacketType.Publish, "d", false, records[3].PacketId),
                ],
                records.Select(r => (r.Type, r.Topic, r.Dup, r.PacketId)));
            Assert.DoesNotContain(records[3].PacketId, sent.Values);
        }
        finally
        {
            store.Open();
            await storage.StopAsync();
        }
    }

    [Fact]
    public void In_memory_flow_returns_no_commit_ticket()
    {
        var flow = NewFlow();
        var sink = new RecordingSink();
        flow.Attach(sink, sendWindow: 10);

        Assert.False(Deliver(flow, NewMessage("a", QualityOfService.ExactlyOnce)).Ticket.IsPending);
        Assert.Single(sink.Records);
    }
}
