using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Starling.Server.Listeners;

namespace Starling.Server.Transport;

/// <summary>
/// Kestrel's socket transport with the <see cref="SocketBudget"/> in its accept loop: a socket that does not fit is
/// closed right there, on the accepting thread, before Kestrel queues it to the thread pool, runs a TLS handshake or
/// reads an HTTP request. (Kestrel's own MaxConcurrentConnections is checked later, on the thread pool: a burst could
/// pile up accepted sockets faster than they are refused.) The slot is given back by <see cref="Count"/>, the first
/// connection middleware of every Kestrel endpoint, when the connection ends.
/// </summary>
internal sealed class CountingListenerFactory(SocketTransportFactory inner, IServiceProvider services)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    /// <summary>Connection item holding a socket's <see cref="SocketBudget.Slot"/> on the HTTP listeners.</summary>
    public const string HttpSlotKey = "starling.http-slot";

    public bool CanBind(EndPoint endpoint) => inner.CanBind(endpoint);

    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        // Kestrel binds when the host starts, after the broker (and so the admission) exist.
        var budget = services.GetRequiredService<ConnectionAdmission>().Sockets;
        return new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), budget);
    }

    /// <summary>
    /// The first connection middleware of a Kestrel endpoint: gives the socket's slot back when the connection ends and,
    /// on an HTTP listener (<paramref name="httpListener"/> not null), holds a slot of the HTTP share while it is one.
    /// </summary>
    public static void Count(ListenOptions listen, SocketBudget budget, string? httpListener)
        => listen.Use(next => async connection =>
        {
            try
            {
                if (httpListener is null)
                {
                    await next(connection).ConfigureAwait(false);
                    return;
                }
                if (budget.TryTakeHttp(httpListener) is not { } slot)
                {
                    return; // Kestrel closes the socket when the delegate returns
                }
                connection.Items[HttpSlotKey] = slot;
                try
                {
                    await next(connection).ConfigureAwait(false);
                }
                finally
                {
                    slot.Closed();
                }
            }
            finally
            {
                budget.Release();
            }
        });

    private sealed class Listener(IConnectionListener inner, SocketBudget budget) : IConnectionListener
    {
        private readonly string _name = inner.EndPoint.ToString() ?? "kestrel";

        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
                if (connection is null || budget.TryTake(_name))
                {
                    return connection;
                }
                connection.Abort();
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
