namespace Starling.Broker;

/// <summary>
/// Returned <see cref="Message"/> objects for reuse by <see cref="Message.Rent"/>. Messages are rented on publishers'
/// read loops and returned on subscribers' writers, usually on other threads, so a per-thread cache alone would
/// drift; a short lock around a bounded stack is cheap at two cores and never allocates once warm. A full pool drops
/// the message to the GC, so a burst cannot grow it past <see cref="Capacity"/>.
/// </summary>
internal static class MessagePool
{
    private const int Capacity = 4096;

    private static readonly Message?[] s_items = new Message?[Capacity];
    private static readonly Lock s_gate = new();
    private static int s_count;

    public static Message? TryTake()
    {
        lock (s_gate)
        {
            if (s_count == 0)
            {
                return null;
            }
            var message = s_items[--s_count];
            s_items[s_count] = null;
            return message;
        }
    }

    public static void Return(Message message)
    {
        lock (s_gate)
        {
            if (s_count < Capacity)
            {
                s_items[s_count++] = message;
            }
        }
    }
}
