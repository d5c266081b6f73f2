using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Console;
using Starling.Broker;
using Starling.Server.Listeners;
using Starling.Server.Logging;
using Starling.Server.Management;
using Starling.Server.Transport;

namespace Starling.Server;

/// <summary>
/// The steps of <see cref="StarlingServer.StartCoreAsync"/>: build the host (logging, Kestrel, services), create the
/// broker, bind every listener. Each step either completes or throws a <see cref="StarlingStartupException"/>.
/// </summary>
internal static class ServerStartup
{
    /// <summary>Time an HTTP client (management, WebSocket handshake) has to send its request headers.</summary>
    public static readonly TimeSpan HttpRequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Time an idle keep-alive HTTP connection stays open (the dashboard polls every few seconds).</summary>
    public static readonly TimeSpan HttpKeepAliveTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The web host with its logging, its Kestrel (the endpoints of the Kestrel-served <paramref name="listeners"/> and of
    /// <paramref name="operations"/>), the broker's services and the lifetime. Nothing is created or bound yet.
    /// </summary>
    public static WebApplication BuildHost(ServerConfiguration configuration, ServerSettings settings, IReadOnlyList<IMqttListener> listeners,
        OperationsRuntime operations, ILoggerProvider? loggerProvider, TimeProvider? timeProvider, bool useConsoleLifetime)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "starling-server",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddConfiguration(configuration.Root);
        AddLogging(builder.Logging, configuration, settings, loggerProvider);
        AddKestrel(builder.WebHost, settings, listeners, operations);
        if (!operations.UsesKestrel && !listeners.Any(l => l.UsesKestrel))
        {
            // Every listener is Starling's own: Kestrel, left without an endpoint, would bind localhost:5000.
            builder.Services.AddSingleton<IServer, NoEndpointServer>();
        }
        builder.Services.AddSingleton(settings);
        operations.AddServices(builder.Services);
        builder.Services.AddSingleton(new BrokerClock(timeProvider ?? TimeProvider.System));
        builder.Services.AddSingleton<BrokerService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BrokerService>());
        // The system clock, not the broker's: the refusal log's interval is real time (as Kestrel's).
        builder.Services.AddSingleton(sp => new ConnectionAdmission(sp.GetRequiredService<BrokerService>().Broker, sp.GetRequiredService<ILoggerFactory>(),
            settings, TimeProvider.System));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(15));
        if (useConsoleLifetime)
        {
            builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        }
        else
        {
            builder.Services.AddSingleton<IHostLifetime, InProcessLifetime>();
        }
        try
        {
            return builder.Build();
        }
        catch (Starling.Broker.Storage.StoreException ex)
        {
            // The broker (and its store) may be created while the host is built: same message as in CreateBroker.
            throw new StarlingStartupException(ex.Message, ex) { ExitCode = 1 };
        }
    }

    private static void AddLogging(ILoggingBuilder logging, ServerConfiguration configuration, ServerSettings settings, ILoggerProvider? loggerProvider)
    {
        logging.AddConfiguration(configuration.Root.GetSection("Logging"));
        if (loggerProvider is not null)
        {
            logging.AddProvider(loggerProvider);
        }
        else if (settings.Operations.LogFormat == "json")
        {
            // Logging:Format=json (--log-format json): one JSON object per line, with the message's named values as fields.
            logging.AddJsonConsole(o =>
            {
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
            });
        }
        else
        {
            logging.AddConsole(o => o.FormatterName = StarlingConsoleFormatter.FormatterName);
            logging.AddConsoleFormatter<StarlingConsoleFormatter, ConsoleFormatterOptions>();
        }
    }

    private static void AddKestrel(IWebHostBuilder webHost, ServerSettings settings, IReadOnlyList<IMqttListener> listeners, OperationsRuntime operations)
    {
        // Only the listeners below: no URLs from ASPNETCORE_URLS/HTTP_PORTS, hence no default :5000 and no "Overriding address(es)".
        webHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        webHost.UseSetting(WebHostDefaults.HttpPortsKey, string.Empty);
        webHost.UseSetting(WebHostDefaults.HttpsPortsKey, string.Empty);
        webHost.UseKestrelCore();
        webHost.UseSockets(sockets =>
        {
            // The broker buffers a whole frame before decoding it; the transport must not pause below that size or a
            // large packet would never complete. Above it the client is throttled (TCP back-pressure).
            sockets.MaxReadBufferSize = settings.Broker.MaxPacketSize + 64L * 1024;
            sockets.NoDelay = true;
        });
        // Every Kestrel socket is counted in the accept loop (SocketBudget): Kestrel's socket transport, wrapped.
        webHost.ConfigureServices(services =>
        {
            services.RemoveAll<IConnectionListenerFactory>();
            services.AddSingleton<IConnectionListenerFactory>(sp =>
                new CountingListenerFactory(ActivatorUtilities.CreateInstance<SocketTransportFactory>(sp), sp));
        });
        webHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Sockets are counted by the server's SocketBudget at accept (CountingListenerFactory), on every listener
            // against one limit, and MaxConnections is the broker's (it answers CONNACK "server busy" instead of
            // resetting the socket): Kestrel's own connection limits stay off. HTTP timeouts do not apply to
            // connection handlers (MQTT, TLS); on the HTTP listeners (management, WebSocket before its upgrade) they
            // are short, so idle HTTP sockets give their slots back: headers within 10 s, 30 s idle between requests.
            kestrel.Limits.MaxConcurrentConnections = null;
            kestrel.Limits.MaxConcurrentUpgradedConnections = null;
            kestrel.Limits.RequestHeadersTimeout = HttpRequestHeadersTimeout;
            kestrel.Limits.KeepAliveTimeout = HttpKeepAliveTimeout;
            // Runs when Kestrel starts, after CreateBroker: the admission (and its broker) exist.
            var admission = kestrel.ApplicationServices.GetRequiredService<ConnectionAdmission>();
            foreach (var listener in listeners)
            {
                listener.Configure(kestrel, admission);
            }
            operations.Listen(kestrel, admission.Sockets);
        });
    }

    /// <summary>Creates the broker (restoring its store) before anything binds.</summary>
    public static MqttBroker CreateBroker(WebApplication app)
    {
        try
        {
            return app.Services.GetRequiredService<BrokerService>().Broker;
        }
        catch (Starling.Broker.Storage.StoreException ex)
        {
            // A damaged, locked or unwritable store: the broker does not start half-restored.
            throw new StarlingStartupException(ex.Message, ex) { ExitCode = 1 };
        }
    }

    /// <summary>
    /// Binds Starling's own listeners, then starts the host (Kestrel binds its listeners). A port that cannot be had
    /// becomes a <see cref="StarlingStartupException"/> naming the listener; whatever was bound is released.
    /// </summary>
    public static async Task BindAsync(WebApplication app, IReadOnlyList<IMqttListener> listeners, OperationsRuntime operations,
        CancellationToken cancellationToken)
    {
        var admission = app.Services.GetRequiredService<ConnectionAdmission>();
        var tcp = MqttListenerList.Tcp(listeners);
        foreach (var listener in listeners)
        {
            try
            {
                listener.Bind(admission);
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                await MqttListenerList.DisposeAllAsync(listeners);
                throw ListenerBindError.Explain(tcp, listener, ex.SocketErrorCode, ex);
            }
        }
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception ex) when (ListenerBindError.Find(ex) is { } socketError)
        {
            await MqttListenerList.DisposeAllAsync(listeners);
            throw operations.BindError(socketError, ex) ?? ListenerBindError.Explain(tcp, failed: null, socketError, ex);
        }
        catch
        {
            await MqttListenerList.DisposeAllAsync(listeners);
            throw;
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
