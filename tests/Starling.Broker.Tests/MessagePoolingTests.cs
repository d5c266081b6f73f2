using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using Starling.Protocol;
using Starling.Testing;

namespace Starling.Broker.Tests;

/// <summary>
/// Published messages are pooled and reference-counted (Message, "Lifetime"). A message returned to the pool while a
/// session queue, an inflight entry or an outbound queue still referred to it would be rewritten by the next publish:
/// its subscriber would then get another message twice and never the original, or a torn payload. These tests fail
/// on any such premature reuse.
/// </summary>
public class MessagePoolingTests
{
    private static readonly TopicName Topic = new("pool/t", "pool/t"u8.ToArray());
    private static readonly MessagePool Pool = new();

    [Fact]
    public void A_pooled_message_counts_its_holders_and_goes_back_to_the_pool_after_the_last_release()
    {
        var message = Message.Rent(Pool, Topic, new ReadOnlySequence<byte>([1, 2, 3]), QualityOfService.AtLeastOnce, false, null, "c", 0);
        Assert.True(message.IsCounted);
        message.AddRef(); // an outbound-queue entry
        message.AddRef(); // an inflight entry
        message.Release(); // the router is done
        message.Release(); // written
        Assert.True(message.IsCounted);
        Assert.Equal([1, 2, 3], message.Payload.ToArray());
        message.Release(); // acknowledged
        Assert.False(message.IsCounted);
        Assert.True(message.Payload.IsEmpty);
    }

    [Fact]
    public void A_released_message_goes_back_to_the_pool_it_was_rented_from_and_no_other()
    {
        // One pool per broker: two brokers in one process must never hand each other's messages out.
        var mine = new MessagePool();
        var other = new MessagePool();
        var message = Message.Rent(mine, Topic, new ReadOnlySequence<byte>([4, 5]), QualityOfService.AtMostOnce, false, null, "c", 0);
        message.Release();
        Assert.Null(other.TryTake());
        Assert.Same(message, mine.TryTake());
        Assert.Null(mine.TryTake());
    }

    [Fact]
    public void A_pinned_message_keeps_its_payload_whatever_is_released_or_rented_later()
    {
        var message = Message.Rent(Pool, Topic, new ReadOnlySequence<byte>([9, 8, 7]), QualityOfService.AtMostOnce, false, null, "c", 0);
        message.AddRef();
        message.Pin(); // e.g. queued for a shared group or the store
        message.Release();
        message.Release();
        message.Release(); // one too many: still harmless once pinned
        for (var i = 0; i < 100; i++)
        {
            var other = Message.Rent(Pool, Topic, new ReadOnlySequence<byte>([0, 0, 0]), QualityOfService.AtMostOnce, false, null, "c", 0);
            other.Release();
        }
        Assert.False(message.IsCounted);
        Assert.Equal([9, 8, 7], message.Payload.ToArray());
    }

    [Fact]
    public void Large_payloads_are_not_pooled()
    {
        var payload = new byte[100_000];
        payload[^1] = 42;
        var message = Message.Rent(Pool, Topic, new ReadOnlySequence<byte>(payload), QualityOfService.AtMostOnce, false, null, "c", 0);
        Assert.False(message.IsCounted);
        message.Release();
        Assert.Equal(42, message.Payload.Span[^1]);
    }

    [Fact]
    public async Task Every_subscriber_gets_each_message_intact_through_queues_inflight_windows_shared_groups_and_a_reconnect()
    {
        const int Publishers = 3;
        const int PerPublisher = 1500;
        // A tiny inflight window makes most QoS 1 deliveries wait in the session queue (a counted holder).
        await using var broker = new MqttBroker(new BrokerOptions { MaxInflightMessages = 3, MaxQueuedMessages = 100_000 });
        var qos1Total = Publishers * PerPublisher / 2;

        await using var acking = RawMqttClient.Attach(broker);
        await acking.ConnectAsync("acking");
        await acking.SubscribeAsync("r/#", QualityOfService.AtLeastOnce);
        await using var qos0 = RawMqttClient.Attach(broker);
        await qos0.ConnectAsync("qos0");
        await qos0.SubscribeAsync("r/#", QualityOfService.AtMostOnce);
        var members = new List<RawMqttClient>();
        for (var i = 0; i < 2; i++)
        {
            var member = RawMqttClient.Attach(broker, ProtocolVersion.V500);
            await member.ConnectAsync("member" + i);
            // Only publisher 0's messages: a shared-group delivery pins its message, and the others must stay pooled.
            await member.SubscribeAsync("$share/g/r/0/#", QualityOfService.AtLeastOnce);
            members.Add(member);
        }
        var keeper = RawMqttClient.Attach(broker);
        await keeper.ConnectAsync("keeper", clean: false);
        await keeper.SubscribeAsync("r/#", QualityOfService.AtLeastOnce);

        var ackingSeen = new ConcurrentDictionary<int, int>();
        var qos0Seen = new ConcurrentDictionary<int, int>();
        var sharedSeen = new ConcurrentDictionary<int, int>();
        var keeperSeen = new ConcurrentDictionary<int, int>();
        var lastQoS1 = new int[Publishers];
        Array.Fill(lastQoS1, -1);
        var ackingDone = ReadAsync(acking, ack: true, until: () => CountQoS1(ackingSeen) == qos1Total, seen: ackingSeen, onQoS1: id =>
        {
            // One session, one publisher: QoS 1 messages arrive in publish order [MQTT-4.6.0-5].
            var (pub, seq) = Split(id);
            Assert.True(seq > lastQoS1[pub], $"publisher {pub}: message {seq} after {lastQoS1[pub]}");
            lastQoS1[pub] = seq;
        });
        using var stopQoS0 = new CancellationTokenSource();
        var qos0Done = ReadAsync(qos0, ack: false, until: () => stopQoS0.IsCancellationRequested, seen: qos0Seen);
        // Two readers share one goal: whichever reaches it cancels the other's pending read.
        using var sharedComplete = new CancellationTokenSource();
        var sharedDone = members.Select(m => ReadAsync(m, ack: true, until: () => CountQoS1(sharedSeen) >= qos1Total / Publishers, seen: sharedSeen,
            stop: sharedComplete)).ToArray();
        // The keeper acknowledges nothing and drops after 200 messages: its window and queue wait for the reconnect.
        var keeperFirst = ReadAsync(keeper, ack: false, until: () => keeperSeen.Count >= 200, seen: keeperSeen);

        var publishers = Enumerable.Range(0, Publishers).Select(p => Task.Run(async () =>
        {
            await using var client = RawMqttClient.Attach(broker);
            await client.ConnectAsync("pub" + p);
            for (var seq = 0; seq < PerPublisher; seq += 50)
            {
                var batch = Enumerable.Range(seq, 50).Select(s => (MqttPacket)new PublishPacket
                {
                    Topic = $"r/{p}/{s % 8}",
                    Payload = new ReadOnlySequence<byte>(Payload(p, s)),
                    QoS = (QualityOfService)(s % 2),
                    PacketId = (ushort)(s % 2 == 1 ? s + 1 : 0),
                });
                await client.SendManyAsync(batch);
            }
        })).ToArray();
        await Task.WhenAll(publishers).WaitAsync(TimeSpan.FromSeconds(30));
        await keeperFirst.WaitAsync(TimeSpan.FromSeconds(30));
        await keeper.DropAsync();

        await using var back = RawMqttClient.Attach(broker);
        Assert.True((await back.ConnectAsync("keeper", clean: false)).SessionPresent);
        await back.ReadAllAsync(ack: true, until: () => CountQoS1(keeperSeen) == qos1Total, seen: keeperSeen, timeout: TimeSpan.FromSeconds(30));
        await ackingDone.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(sharedDone).WaitAsync(TimeSpan.FromSeconds(30));
        stopQoS0.Cancel();
        await qos0.PublishPacketAsync("r/end", "x"); // wakes its reader
        await qos0Done.WaitAsync(TimeSpan.FromSeconds(10));

        // Exactly once for the online acknowledging subscriber: a reused message shows up as a duplicate here.
        Assert.All(ackingSeen, kv => Assert.Equal(1, kv.Value));
        Assert.All(qos0Seen, kv => Assert.Equal(1, kv.Value));
        Assert.Equal(qos1Total / Publishers, CountQoS1(sharedSeen));
        Assert.Equal(qos1Total, CountQoS1(keeperSeen));
        foreach (var member in members)
        {
            await member.DisposeAsync();
        }
    }

    private static Task ReadAsync(RawMqttClient client, bool ack, Func<bool> until, ConcurrentDictionary<int, int> seen, Action<int>? onQoS1 = null,
        CancellationTokenSource? stop = null)
        => Task.Run(() => client.ReadAllAsync(ack, until, seen, TimeSpan.FromSeconds(60), onQoS1, stop));

    private static int CountQoS1(ConcurrentDictionary<int, int> seen) => seen.Keys.Count(id => Split(id).Seq % 2 == 1);

    private static (int Pub, int Seq) Split(int id) => (id / 100_000, id % 100_000);

    /// <summary>Publisher, sequence, then filler derived from both; lengths vary so pooled buffers are reused at other sizes.</summary>
    internal static byte[] Payload(int pub, int seq)
    {
        var payload = new byte[5 + (seq * 37 % 300)];
        payload[0] = (byte)pub;
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(1), seq);
        for (var i = 5; i < payload.Length; i++)
        {
            payload[i] = (byte)(pub * 7 + seq * 13 + i);
        }
        return payload;
    }

    /// <summary>Checks one received PUBLISH against what its publisher sent; returns its id (publisher * 100,000 + sequence).</summary>
    internal static int Verify(PublishPacket p)
    {
        var payload = p.Payload.ToArray();
        Assert.True(payload.Length >= 5, $"payload of {payload.Length} bytes on {p.Topic}");
        int pub = payload[0];
        var seq = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(1));
        Assert.Equal($"r/{pub}/{seq % 8}", p.Topic);
        Assert.Equal(Payload(pub, seq), payload);
        return pub * 100_000 + seq;
    }
}

internal static class PipeClientReading
{
    /// <summary>Reads PUBLISHes until <paramref name="until"/> holds, verifying and counting each (and acknowledging QoS 1 when asked).</summary>
    public static async Task ReadAllAsync(this RawMqttClient client, bool ack, Func<bool> until, ConcurrentDictionary<int, int> seen, TimeSpan timeout,
        Action<int>? onQoS1 = null, CancellationTokenSource? stop = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!until())
        {
            MqttPacket? packet;
            try
            {
                packet = await client.ReceivePacketAsync(deadline - DateTime.UtcNow, stop?.Token ?? default);
            }
            catch (OperationCanceledException) when (stop?.IsCancellationRequested == true)
            {
                return;
            }
            if (packet is not PublishPacket p)
            {
                Assert.True(packet is not null, "the broker closed the connection");
                continue;
            }
            if (p.Topic == "r/end")
            {
                continue;
            }
            var id = MessagePoolingTests.Verify(p);
            if (p.QoS == QualityOfService.AtLeastOnce)
            {
                if (!p.Dup)
                {
                    onQoS1?.Invoke(id);
                }
                if (ack)
                {
                    await client.SendAsync(new PubAckPacket(PacketType.PubAck, p.PacketId));
                }
            }
            seen.AddOrUpdate(id, 1, (_, n) => n + 1);
        }
        stop?.Cancel();
    }
}
