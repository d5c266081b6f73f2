namespace Starling.Broker;

/// <summary>
/// Returned <see cref="Message"/> objects for reuse by <see cref="Message.Rent"/>; one per broker (owned by
/// <see cref="MqttBroker"/> and handed to the publish path, so two brokers in one process never share messages).
/// Messages are rented on publishers' read loops and returned on subscribers' writers, usually on other threads, so a
/// per-thread cache alone would drift; a short lock around a bounded stack is cheap at two cores and never allocates
/// once warm. A full pool drops the message to the GC, so a burst cannot grow it past <see cref="Capacity"/>.
/// </summary>
internal sealed class MessagePool
{
    private const int Capacity = 4096;

    private readonly Message?[] _items = new Message?[Capacity];
    private readonly Lock _gate = new();
    private int _count;

    public Message? TryTake()
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                return null;
            }
            var message = _items[--_count];
            _items[_count] = null;
            return message;
        }
    }

    public void Return(Message message)
    {
        lock (_gate)
        {
            if (_count < Capacity)
            {
                _items[_count++] = message;
            }
        }
    }
}
