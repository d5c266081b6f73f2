using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Console;
using Starling.Broker;
using Starling.Server.Logging;

namespace Starling.Server;

/// <summary>
/// A running Starling server: the broker behind Kestrel's TCP listeners. <c>starling-server</c> runs one of these
/// until SIGTERM or Ctrl+C; tests start one in-process with <c>--port 0</c> and read <see cref="MqttEndpoints"/>.
/// </summary>
public sealed class StarlingServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly IReadOnlyList<ListenerSettings> _listeners;
    // TLS listeners run on Kestrel (its TLS middleware); plain TCP ones on Starling's own SocketListener where its
    // ReadinessPoller works (Linux x64) unless configured with "Transport": "kestrel", else on Kestrel too.
    private readonly Dictionary<ListenerSettings, ListenOptions> _kestrelListeners;
    private readonly Dictionary<ListenerSettings, Transport.SocketListener> _socketListeners;
    private readonly Lock _stopLock = new();
    private Task? _stopTask;

    private StarlingServer(WebApplication app, MqttBroker broker, IReadOnlyList<ListenerSettings> listeners,
        Dictionary<ListenerSettings, ListenOptions> kestrelListeners, Dictionary<ListenerSettings, Transport.SocketListener> socketListeners)
    {
        _app = app;
        Broker = broker;
        _listeners = listeners;
        _kestrelListeners = kestrelListeners;
        _socketListeners = socketListeners;
    }

    /// <summary>The broker this server hosts.</summary>
    public MqttBroker Broker { get; }

    /// <summary>The host's services (logging, configuration), for tests and tools.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The MQTT endpoints actually bound, in listener order; a port asked as 0 reads back as the port the OS chose.</summary>
    public IReadOnlyList<IPEndPoint> MqttEndpoints =>
        [.. _listeners.Select(l => _socketListeners.TryGetValue(l, out var socket) ? socket.EndPoint
            : _kestrelListeners[l].IPEndPoint ?? new IPEndPoint(l.Address, l.Port))];

    /// <summary>Which transport serves each MQTT listener, in listener order: "starling" (Starling's own) or "kestrel".</summary>
    public IReadOnlyList<string> MqttTransports => [.. _listeners.Select(l => _socketListeners.ContainsKey(l) ? "starling" : "kestrel")];

    /// <summary>The management HTTP endpoint actually bound (API, dashboard, /metrics); null when Management is off.</summary>
    public IPEndPoint? ManagementEndpoint => Services.GetService<Management.OperationsRuntime>()?.ManagementEndpoint;

    /// <summary>The MQTT over WebSockets endpoint actually bound; null when WebSockets is off.</summary>
    public IPEndPoint? WebSocketEndpoint => Services.GetService<Management.OperationsRuntime>()?.WebSocketEndpoint;

    /// <summary>Completes when the host has begun to stop (SIGTERM, Ctrl+C or <see cref="StopAsync"/>).</summary>
    public CancellationToken Stopping => _app.Lifetime.ApplicationStopping;

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
        var kestrelListeners = new Dictionary<ListenerSettings, ListenOptions>();
        var socketListeners = new Dictionary<ListenerSettings, Transport.SocketListener>();
        var operations = new Management.OperationsRuntime(settings);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "starling-server",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddConfiguration(configuration.Root);

        builder.Logging.AddConfiguration(configuration.Root.GetSection("Logging"));
        if (loggerProvider is not null)
        {
            builder.Logging.AddProvider(loggerProvider);
        }
        else if (settings.Operations.LogFormat == "json")
        {
            // Logging:Format=json (--log-format json): one JSON object per line, with the message's named values as fields.
            builder.Logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
            });
        }
        else
        {
            builder.Logging.AddConsole(o => o.FormatterName = StarlingConsoleFormatter.FormatterName);
            builder.Logging.AddConsoleFormatter<StarlingConsoleFormatter, ConsoleFormatterOptions>();
        }

        // Only the listeners below: no URLs from ASPNETCORE_URLS/HTTP_PORTS, hence no default :5000 and no "Overriding address(es)".
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.WebHost.UseSetting(WebHostDefaults.HttpPortsKey, string.Empty);
        builder.WebHost.UseSetting(WebHostDefaults.HttpsPortsKey, string.Empty);
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseSockets(sockets =>
        {
            // The broker buffers a whole frame before decoding it; the transport must not pause below that size or a
            // large packet would never complete. Above it the client is throttled (TCP back-pressure).
            sockets.MaxReadBufferSize = settings.Broker.MaxPacketSize + 64L * 1024;
            sockets.NoDelay = true;
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // MaxConnections is the broker's (it answers CONNACK "server busy" instead of resetting the socket), so
            // Kestrel's own connection limits stay off. HTTP timeouts and rates do not apply to connection handlers.
            kestrel.Limits.MaxConcurrentConnections = null;
            kestrel.Limits.MaxConcurrentUpgradedConnections = null;
            kestrelListeners.Clear();
            foreach (var listener in settings.Listeners)
            {
                var tls = settings.Security.Tls.GetValueOrDefault(listener.Name);
                if (tls is null && !listener.UseKestrel)
                {
                    continue; // plain TCP: SocketListener, bound below
                }
                var feature = new MqttListenerFeature(listener.Name);
                kestrel.Listen(listener.Address, listener.Port, lo =>
                {
                    lo.Use(next => connection =>
                    {
                        connection.Features.Set(feature);
                        return next(connection);
                    });
                    tls?.Configure(lo);
                    lo.UseConnectionHandler<MqttConnectionHandler>();
                    kestrelListeners[listener] = lo;
                });
            }
            operations.Listen(kestrel);
        });

        if (!operations.UsesKestrel && !settings.Listeners.Any(l => l.UseKestrel || settings.Security.Tls.ContainsKey(l.Name)))
        {
            // Every listener is a SocketListener: Kestrel, left without an endpoint, would bind localhost:5000.
            builder.Services.AddSingleton<IServer, NoEndpointServer>();
        }
        builder.Services.AddSingleton(settings);
        operations.AddServices(builder.Services);
        builder.Services.AddSingleton(new BrokerClock(timeProvider ?? TimeProvider.System));
        builder.Services.AddSingleton<BrokerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BrokerService>());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        if (useConsoleLifetime)
        {
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        }
        else
        {
            builder.Services.AddSingleton<IHostLifetime, InProcessLifetime>();
        }

        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch (Starling.Broker.Storage.StoreException ex)
        {
            // The broker (and its store) may be created while the host is built: same message as below.
            throw new StarlingStartupException(ex.Message, ex) { ExitCode = 1 };
        }
        try
        {
            // The broker exists before Kestrel binds.
            MqttBroker broker;
            try
            {
                broker = app.Services.GetRequiredService<BrokerService>().Broker;
            }
            catch (Starling.Broker.Storage.StoreException ex)
            {
                // A damaged, locked or unwritable store: the broker does not start half-restored.
                throw new StarlingStartupException(ex.Message, ex) { ExitCode = 1 };
            }
            operations.Configure(app);
            var transportLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Transport");
            foreach (var listener in settings.Listeners.Where(l => !kestrelListeners.ContainsKey(l)))
            {
                try
                {
                    socketListeners[listener] = new Transport.SocketListener(listener, broker, transportLog);
                }
                catch (SocketException ex)
                {
                    await DisposeAllAsync(socketListeners.Values);
                    throw BindError(settings.Listeners, listener, ex.SocketErrorCode, ex);
                }
            }
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (Exception ex) when (FindBindError(ex) is { } socketError)
            {
                await DisposeAllAsync(socketListeners.Values);
                throw operations.BindError(socketError, ex) ?? BindError(settings.Listeners, failed: null, socketError, ex);
            }
            catch
            {
                await DisposeAllAsync(socketListeners.Values);
                throw;
            }
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server");
            LimitOpenConnections(settings, logger);
            foreach (var socketListener in socketListeners.Values)
            {
                socketListener.Start();
            }

            var server = new StarlingServer(app, broker, settings.Listeners, kestrelListeners, socketListeners);
            Security.SecurityHost.Start(app, settings.Security);
            operations.Start(app, broker);
            logger.LogInformation("Starling {Version} listening on {Endpoints}", ServerCommandLine.VersionText(),
                string.Join(", ", server._listeners.Zip(server.MqttEndpoints).Select(p => $"{p.Second} ({p.First.Name})")));
            return server;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Limits:MaxOpenConnections from the open-file limit when it is not configured; a configured value above what fits
    /// is kept (the operator's choice) with a warning. See <see cref="Transport.OpenFileLimit"/>.
    /// </summary>
    private static void LimitOpenConnections(ServerSettings settings, ILogger logger)
    {
        if (Transport.OpenFileLimit.ReadSoftLimit() is not { } limit || Transport.OpenFileLimit.CountOpen() is not { } open)
        {
            return;
        }
        var capacity = Transport.OpenFileLimit.ConnectionCapacity(limit, open);
        var security = settings.Broker.Security;
        if (settings.MaxOpenConnectionsFromFileLimit)
        {
            security.MaxOpenConnections = capacity;
            logger.LogInformation("Open-file limit {Limit} (ulimit -n), {Open} in use: at most {Capacity} connections at once "
                + "(Limits:MaxOpenConnections; raise the limit for more)", limit, open, capacity);
        }
        else if (security.MaxOpenConnections == 0 || security.MaxOpenConnections > capacity)
        {
            logger.LogWarning("Limits:MaxOpenConnections is {Configured}, but the open-file limit {Limit} (ulimit -n) leaves room for "
                + "{Capacity} connections: past that the process runs out of file descriptors and the .NET runtime aborts. "
                + "Raise the limit or remove the setting", security.MaxOpenConnections == 0 ? "0 (no limit)" : security.MaxOpenConnections,
                limit, capacity);
        }
    }

    private static async Task DisposeAllAsync(IEnumerable<Transport.SocketListener> listeners)
    {
        foreach (var listener in listeners)
        {
            await listener.DisposeAsync();
        }
    }

    private static SocketError? FindBindError(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case AddressInUseException:
                    return SocketError.AddressAlreadyInUse;
                case SocketException socket:
                    return socket.SocketErrorCode;
            }
        }
        return null;
    }

    private static StarlingStartupException BindError(IReadOnlyList<ListenerSettings> listeners, ListenerSettings? failed, SocketError? error, Exception ex)
    {
        // Kestrel has released whatever it bound (and the plain TCP listeners are closed): unless the caller knows
        // which listener failed, find one that cannot be bound by trying each one again.
        failed ??= listeners.FirstOrDefault(l => !CanBind(l)) ?? listeners[0];
        var where = $"{failed} (listener '{failed.Name}')";
        var portHint = ReferenceEquals(failed, listeners[0])
            ? "choose another port with -p PORT (or Listeners:0:Port in the configuration)"
            : $"choose another Port for listener '{failed.Name}' in the configuration";
        var message = error switch
        {
            SocketError.AddressAlreadyInUse =>
                $"Cannot listen on {where}: the address is already in use, probably by another MQTT broker. Stop that process or {portHint}.",
            SocketError.AccessDenied =>
                $"Cannot listen on {where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE). Run with that permission or {portHint}.",
            SocketError.AddressNotAvailable =>
                $"Cannot listen on {where}: the address does not belong to this machine. Use --bind with one of its addresses, 0.0.0.0 or ::.",
            _ => $"Cannot listen on {where}: {ex.InnerException?.Message ?? ex.Message}",
        };
        return new StarlingStartupException(message, ex);
    }

    private static bool CanBind(ListenerSettings listener)
    {
        if (listener.Port == 0)
        {
            return true;
        }
        try
        {
            using var socket = new Socket(listener.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (listener.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(new IPEndPoint(listener.Address, listener.Port));
            return true;
        }
        catch (SocketException)
        {
            return false;
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
        // The broker stops with the host (clients get DISCONNECT; new CONNECTs are refused meanwhile), then the
        // plain TCP listeners close, as Kestrel's do.
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await DisposeAllAsync(_socketListeners.Values);
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
            await _app.DisposeAsync();
        }
    }

    /// <summary>The host's server when nothing listens through Kestrel: it listens nowhere.</summary>
    private sealed class NoEndpointServer : IServer
    {
        public IFeatureCollection Features { get; } = new FeatureCollection();

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose()
        {
        }
    }

    /// <summary>In-process servers (tests) leave SIGTERM and Ctrl+C to the process that hosts them.</summary>
    private sealed class InProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
