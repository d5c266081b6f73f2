using Starling.Protocol;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// A fake <see cref="IDeliverySink"/> that records what an <see cref="OutboundFlow"/> sends, in order. Thread-safe
/// (store commit callbacks send from the writer thread); <see cref="WaitForCountAsync"/> awaits a number of records.
/// </summary>
internal sealed class RecordingSink : IDeliverySink
{
    private readonly Lock _gate = new();
    private readonly List<Sent> _sent = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];

    /// <summary>What <see cref="SendQoS0"/> answers: true pretends the client's lane is congested but moving.</summary>
    public bool Congested { get; set; }

    /// <summary>Largest payload that <see cref="Fits"/> accepts (the client's Maximum Packet Size, simplified).</summary>
    public int MaxPayload { get; set; } = int.MaxValue;

    public IReadOnlyList<Sent> Records
    {
        get
        {
            lock (_gate)
            {
                return [.. _sent];
            }
        }
    }

    public bool Fits(in Delivery delivery) => delivery.Message.Payload.Length <= MaxPayload;

    public bool SendQoS0(in Delivery delivery, int extraRoom = 0)
    {
        Add(new Sent(PacketType.Publish, 0, QualityOfService.AtMostOnce, false, ReasonCode.Success, delivery.Message));
        return Congested;
    }

    public void SendPublish(in Delivery delivery, bool dup)
        => Add(new Sent(PacketType.Publish, delivery.PacketId, delivery.QoS, dup, ReasonCode.Success, delivery.Message));

    public void SendAck(PacketType type, ushort packetId, ReasonCode reason)
        => Add(new Sent(type, packetId, QualityOfService.AtMostOnce, false, reason, null));

    /// <summary>Behaves as an MQTT 5 connection (failure codes in PUBACK / PUBREC) unless set.</summary>
    public bool HasFailureAcks { get; set; } = true;

    /// <summary>The cause given by the last <see cref="CloseUnacknowledged"/>, null when never called.</summary>
    public string? ClosedUnacknowledged { get; private set; }

    public void CloseUnacknowledged(string cause) => ClosedUnacknowledged = cause;

    /// <summary>Completes once at least <paramref name="count"/> packets were recorded; fails after 10 s.</summary>
    public Task WaitForCountAsync(int count)
    {
        lock (_gate)
        {
            if (_sent.Count >= count)
            {
                return Task.CompletedTask;
            }
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    private void Add(Sent sent)
    {
        lock (_gate)
        {
            _sent.Add(sent);
            foreach (var w in _waiters.Where(w => _sent.Count >= w.Count).ToList())
            {
                _waiters.Remove(w);
                w.Done.TrySetResult();
            }
        }
    }

    /// <summary>One packet queued to the fake connection.</summary>
    public readonly record struct Sent(PacketType Type, ushort PacketId, QualityOfService QoS, bool Dup, ReasonCode Reason, Message? Message)
    {
        public string Topic => Message?.Topic ?? "";
    }
}
