using System.Net;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// A connection's place in the broker's bookkeeping: its slot in <see cref="ConnectionRegistry"/>, and its counts in
/// the admission limits (<see cref="SecurityRuntime"/>): pending until its CONNECT is authenticated, and per remote
/// address while it is open. A struct held inline by <see cref="MqttConnection"/> (its fields share one 16-byte
/// slot: idle-connection memory); touched only by its read loop (and its cleanup, which runs after the read loop ended).
/// </summary>
internal struct AdmissionTicket
{
    /// <summary>The connection's slot in the broker's <see cref="ConnectionRegistry"/>, from the start of its read loop to its cleanup.</summary>
    public int RegistrySlot;

    private bool _pendingCounted;
    private IPAddress? _countedAddress;

    /// <summary>
    /// Counts a new transport; false (after logging the cause) when a limit says it must be closed at once.
    /// <paramref name="openTransports"/> includes this one.
    /// </summary>
    public bool TryAdmit(SecurityRuntime security, EndPoint? remote, int openTransports)
    {
        var address = (remote as IPEndPoint)?.Address;
        if (!security.TryAdmit(address, openTransports, out var cause))
        {
            security.Log.Write(cause, cause switch
            {
                RejectionCause.OpenConnections => $"connection from {remote} closed: {security.Options.MaxOpenConnections} connections are open (Limits:MaxOpenConnections; its default follows the open-file limit, ulimit -n)",
                RejectionCause.PendingConnections => $"connection from {remote} closed: {security.Options.MaxPendingConnections} connections are already waiting for CONNECT (Limits:MaxPendingConnections)",
                _ => $"connection from {remote} closed: more than {security.Options.MaxConnectionsPerAddress} connections from {address} (Limits:MaxConnectionsPerAddress)",
            });
            return false;
        }
        _pendingCounted = true;
        _countedAddress = security.Options.MaxConnectionsPerAddress > 0 ? address : null;
        return true;
    }

    /// <summary>The client authenticated: it no longer counts against Limits:MaxPendingConnections.</summary>
    public void LeavePending(SecurityRuntime security)
    {
        if (_pendingCounted)
        {
            _pendingCounted = false;
            security.LeavePending();
        }
    }

    /// <summary>The connection ended: releases whatever it still holds.</summary>
    public void Release(SecurityRuntime security)
    {
        LeavePending(security);
        if (_countedAddress is { } address)
        {
            _countedAddress = null;
            security.ReleaseAddress(address);
        }
    }
}
