using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Starling.Broker;

/// <summary>
/// The broker: one instance per process, built before any listener binds. Transports hand it one duplex pipe per
/// connection; everything MQTT happens here.
/// </summary>
public sealed class MqttBroker : IAsyncDisposable
{
    public MqttBroker(BrokerOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        TimeProvider = timeProvider ?? TimeProvider.System;
    }

    public BrokerOptions Options { get; }
    internal ILoggerFactory LoggerFactory { get; }
    internal TimeProvider TimeProvider { get; }

    /// <summary>Serves one connection until it closes; never throws for client or I/O faults.</summary>
    public Task RunConnectionAsync(IDuplexPipe transport, ConnectionInfo info, CancellationToken cancellationToken)
        => throw new NotImplementedException();

    /// <summary>Graceful shutdown: refuse new connections, send DISCONNECT 0x8B to v5 clients, close all connections.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);
}
