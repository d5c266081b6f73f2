using Microsoft.Extensions.DependencyInjection.Extensions;
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
    /// The host with its logging, the broker's services and the lifetime; nothing is created or bound yet. A host whose
    /// listeners are all Starling's own is a plain generic host: ASP.NET Core, Kestrel and the HTTP stack are then never
    /// loaded (about 10 MB of mapped assemblies less at start, docs/performance.md "Startup memory"). Otherwise it is a
    /// web host (<see cref="KestrelHost"/>) with the endpoints of the Kestrel-served <paramref name="listeners"/> and of
    /// <paramref name="operations"/>. Nothing in this class names an ASP.NET Core type: the JIT loads the assembly of
    /// every type a compiled method mentions, so those types stay in <see cref="KestrelHost"/>.
    /// </summary>
    public static IHost BuildHost(ServerConfiguration configuration, ServerSettings settings, IReadOnlyList<IMqttListener> listeners,
        OperationsRuntime operations, ILoggerProvider? loggerProvider, TimeProvider? timeProvider, bool useConsoleLifetime)
    {
        var usesKestrel = NeedsKestrel(listeners, operations);
        var builder = usesKestrel
            ? KestrelHost.CreateBuilder()
            : Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings
            {
                ApplicationName = "starling-server",
                ContentRootPath = AppContext.BaseDirectory,
            });
        builder.Configuration.AddConfiguration(configuration.Root);
        AddLogging(builder.Logging, configuration, settings, loggerProvider);
        if (usesKestrel)
        {
            KestrelHost.AddKestrel(builder, settings, listeners, operations);
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
            return usesKestrel ? KestrelHost.Build(builder) : ((HostApplicationBuilder)builder).Build();
        }
        catch (Starling.Broker.Storage.StoreException ex)
        {
            // The broker (and its store) may be created while the host is built: same message as in CreateBroker.
            throw new StarlingStartupException(ex.Message, ex) { ExitCode = 1 };
        }
    }

    /// <summary>Whether a listener or the management port is served by Kestrel (then the host is a web host).</summary>
    public static bool NeedsKestrel(IReadOnlyList<IMqttListener> listeners, OperationsRuntime operations)
        => operations.UsesKestrel || listeners.Any(l => l.UsesKestrel);

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
            // The formatter reads no options: registered directly, without AddConsoleFormatter's reflection-based
            // options binding (which a Native AOT build cannot keep).
            logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, StarlingConsoleFormatter>());
        }
    }

    /// <summary>Creates the broker (restoring its store) before anything binds.</summary>
    public static MqttBroker CreateBroker(IHost app)
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
    public static async Task BindAsync(IHost app, IReadOnlyList<IMqttListener> listeners, OperationsRuntime operations,
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

    /// <summary>In-process servers (tests) leave SIGTERM and Ctrl+C to the process that hosts them.</summary>
    private sealed class InProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
