using System.Net;
using Starling.Broker;
using Starling.Server.Listeners;
using Starling.Server.Logging;
using Starling.Server.Management;
using Starling.Server.Transport;
using Starling.Server.WebSockets;

namespace Starling.Server;

/// <summary>
/// A running Starling server: the broker behind its MQTT listeners (<see cref="IMqttListener"/>: Starling's own TCP
/// transport, Kestrel for TLS, WebSockets). <c>starling-server</c> runs one of these until SIGTERM or Ctrl+C; tests
/// start one in-process with <c>--port 0</c> and read <see cref="MqttEndpoints"/>. Two servers in one process share
/// nothing: each has its own broker, listeners and <see cref="ReadinessPoller"/>.
/// </summary>
public sealed class StarlingServer : IAsyncDisposable
{
    // A generic host, or a web host (KestrelHost) when a listener needs Kestrel: named only as IHost here.
    private readonly IHost _app;
    // Every MQTT listener, TCP ones in configuration order first, then the WebSocket one (if enabled).
    private readonly IReadOnlyList<IMqttListener> _listeners;
    private readonly ReadinessPoller _poller;
    private readonly Lock _stopLock = new();
    private Task? _stopTask;

    private StarlingServer(IHost app, MqttBroker broker, IReadOnlyList<IMqttListener> listeners, ReadinessPoller poller)
    {
        _app = app;
        Broker = broker;
        _listeners = listeners;
        _poller = poller;
    }

    /// <summary>The broker this server hosts.</summary>
    public MqttBroker Broker { get; }

    /// <summary>The host's services (logging, configuration), for tests and tools.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The MQTT endpoints actually bound, in listener order; a port asked as 0 reads back as the port the OS chose.</summary>
    public IReadOnlyList<IPEndPoint> MqttEndpoints => [.. MqttListenerList.Tcp(_listeners).Select(l => l.EndPoint)];

    /// <summary>Which transport serves each MQTT listener, in listener order: "starling" (Starling's own) or "kestrel".</summary>
    public IReadOnlyList<string> MqttTransports => [.. MqttListenerList.Tcp(_listeners).Select(l => l.Transport)];

    /// <summary>The management HTTP endpoint actually bound (API, dashboard, /metrics); null when Management is off.</summary>
    public IPEndPoint? ManagementEndpoint => Services.GetService<OperationsRuntime>()?.ManagementEndpoint;

    /// <summary>The MQTT over WebSockets endpoint actually bound; null when WebSockets is off.</summary>
    public IPEndPoint? WebSocketEndpoint => Services.GetService<OperationsRuntime>()?.WebSocketEndpoint;

    /// <summary>Completes when the host has begun to stop (SIGTERM, Ctrl+C or <see cref="StopAsync"/>).</summary>
    public CancellationToken Stopping => _app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;

    /// <summary>Starts a server with the same arguments as the command line (e.g. <c>["--port", "0"]</c>).</summary>
    /// <exception cref="StarlingStartupException">A bad option, a bad configuration or a port that cannot be bound.</exception>
    public static Task<StarlingServer> StartAsync(string[] args, CancellationToken cancellationToken = default)
        => StartAsync(args, configOverrides: null, loggerProvider: null, cancellationToken);

    /// <summary>
    /// Starts a server with the command-line <paramref name="args"/>, then <paramref name="configOverrides"/> (configuration
    /// keys such as <c>Limits:MaxConnections</c>, added after the command line so they win). When
    /// <paramref name="loggerProvider"/> is given, logs go to it instead of the console.
    /// </summary>
    /// <exception cref="StarlingStartupException">A bad option, a bad configuration or a port that cannot be bound.</exception>
    public static Task<StarlingServer> StartAsync(string[] args, IDictionary<string, string?>? configOverrides,
        ILoggerProvider? loggerProvider = null, CancellationToken cancellationToken = default)
        => StartAsync(args, configOverrides, loggerProvider, timeProvider: null, cancellationToken);

    /// <summary>
    /// As <see cref="StartAsync(string[], IDictionary{string, string?}?, ILoggerProvider?, CancellationToken)"/>, with the
    /// broker's clock (connect timeout, keep-alive, session expiry, will delay, message expiry) taken from
    /// <paramref name="timeProvider"/> instead of <see cref="TimeProvider.System"/>: tests pass a fake clock and advance it.
    /// </summary>
    public static Task<StarlingServer> StartAsync(string[] args, IDictionary<string, string?>? configOverrides,
        ILoggerProvider? loggerProvider, TimeProvider? timeProvider, CancellationToken cancellationToken = default)
    {
        var commandLine = ServerCommandLine.Parse(args);
        if (commandLine.Help || commandLine.Version)
        {
            throw new StarlingStartupException("--help and --version are for the command line; StarlingServer.StartAsync starts a server.");
        }
        return StartCoreAsync(commandLine, configOverrides, loggerProvider, useConsoleLifetime: false, timeProvider, cancellationToken);
    }

    internal static async Task<StarlingServer> StartCoreAsync(ServerCommandLine commandLine, IDictionary<string, string?>? configOverrides,
        ILoggerProvider? loggerProvider, bool useConsoleLifetime, TimeProvider? timeProvider, CancellationToken cancellationToken)
    {
        var configuration = ServerConfiguration.Build(commandLine, configOverrides);
        var settings = configuration.Read();
        var poller = new ReadinessPoller();
        var listeners = MqttListenerList.Create(settings, poller);
        var operations = new OperationsRuntime(settings, listeners.OfType<WebSocketListener>().SingleOrDefault());
        var app = ServerStartup.BuildHost(configuration, settings, listeners, operations, loggerProvider, timeProvider, useConsoleLifetime);
        try
        {
            // Before the broker is built: its options do not change once it runs.
            var openFiles = OpenFileBudget.Apply(settings);
            var broker = ServerStartup.CreateBroker(app); // before anything binds
            if (operations.AnyHttp)
            {
                KestrelHost.ConfigurePipeline(app, settings);
            }
            await ServerStartup.BindAsync(app, listeners, operations, cancellationToken);
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server");
            openFiles?.Log(logger);
            foreach (var listener in listeners)
            {
                listener.Start();
            }
            openFiles?.CheckAfterStart(logger);
            var server = new StarlingServer(app, broker, listeners, poller);
            Security.SecurityHost.Start(app, settings.Security, broker);
            operations.Start(app, broker);
            ServerLog.Listening(logger, ServerCommandLine.VersionText(),
                string.Join(", ", MqttListenerList.Tcp(listeners).Select(l => $"{l.EndPoint} ({l.Name})")));
            return server;
        }
        catch
        {
            await MqttListenerList.DisposeAllAsync(listeners);
            poller.Dispose();
            await DisposeHostAsync(app);
            throw;
        }
    }

    /// <summary>Waits until SIGTERM/Ctrl+C (or <see cref="StopAsync"/>), then stops gracefully.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (Stopping.Register(() => stopping.TrySetResult()))
        using (cancellationToken.Register(() => stopping.TrySetCanceled(cancellationToken)))
        {
            await stopping.Task;
        }
        await StopAsync();
    }

    /// <summary>
    /// Graceful stop: the broker stops first (clients get DISCONNECT where the protocol allows), then Kestrel closes
    /// the listeners. Safe to call more than once.
    /// </summary>
    public Task StopAsync()
    {
        lock (_stopLock)
        {
            return _stopTask ??= StopCoreAsync();
        }
    }

    private async Task StopCoreAsync()
    {
        // The broker stops with the host (clients get DISCONNECT; new CONNECTs are refused meanwhile), then
        // Starling's own listeners close, as Kestrel's do, and the poller's thread ends.
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await MqttListenerList.DisposeAllAsync(_listeners);
            _poller.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            await DisposeHostAsync(_app);
        }
    }

    private static async ValueTask DisposeHostAsync(IHost host)
    {
        if (host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            host.Dispose();
        }
    }
}
