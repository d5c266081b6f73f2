namespace Starling.Broker;

/// <summary>Classifies exceptions of a connection's transport (the peer went away) apart from broker faults.</summary>
internal static class TransportFaults
{
    /// <summary>True for the exceptions a reset, aborted or disposed transport throws (Kestrel's derive from these).</summary>
    public static bool IsTransportFault(Exception ex)
        => ex is IOException or ObjectDisposedException or OperationCanceledException;
}
