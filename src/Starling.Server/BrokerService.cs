using Starling.Broker;
using Starling.Server.Logging;

namespace Starling.Server;

/// <summary>
/// Owns the process's one <see cref="MqttBroker"/>: built when the host is built, before Kestrel binds, and stopped
/// in <see cref="StoppingAsync"/>, which the host runs after ApplicationStopping and before any hosted service's
/// StopAsync, so the broker says goodbye to its clients (DISCONNECT 0x8B) before Kestrel closes the listeners.
/// Not disposable on purpose: the container must not stop the broker a second time.
/// </summary>
internal sealed class BrokerService(ServerSettings settings, BrokerClock clock, ILoggerFactory loggerFactory, ILogger<BrokerService> logger) : IHostedLifecycleService
{
    // With a store, the constructor restores the durable state (or throws StoreException) before any listener binds.
    public MqttBroker Broker { get; } = new(settings.Broker, loggerFactory, clock.Time, settings.Storage.Open(logger));

    private int _stopped;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        ServerLog.BrokerStopping(logger);
        try
        {
            await Broker.StopAsync(cancellationToken);
            ServerLog.BrokerStopped(logger);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            ServerLog.BrokerStopTimedOut(logger);
        }
        catch (Exception ex)
        {
            ServerLog.BrokerStopFailed(logger, ex, ex.Message);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The broker's clock: <see cref="TimeProvider.System"/> in the product, a fake one when a test passes it to
/// <see cref="StarlingServer.StartAsync(string[], IDictionary{string, string?}?, ILoggerProvider?, TimeProvider?, CancellationToken)"/>.
/// A wrapper, not a TimeProvider registration, so nothing else in the host (Kestrel) picks the fake clock up.
/// </summary>
internal sealed record BrokerClock(TimeProvider Time);
