using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
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
    private readonly List<(ListenerSettings Settings, ListenOptions Options)> _listenOptions;
    private readonly Lock _stopLock = new();
    private Task? _stopTask;

    private StarlingServer(WebApplication app, MqttBroker broker, List<(ListenerSettings, ListenOptions)> listenOptions)
    {
        _app = app;
        Broker = broker;
        _listenOptions = listenOptions;
    }

    /// <summary>The broker this server hosts.</summary>
    public MqttBroker Broker { get; }

    /// <summary>The host's services (logging, configuration), for tests and tools.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>The MQTT endpoints actually bound, in listener order; a port asked as 0 reads back as the port the OS chose.</summary>
    public IReadOnlyList<IPEndPoint> MqttEndpoints =>
        [.. _listenOptions.Select(l => l.Options.IPEndPoint ?? new IPEndPoint(l.Settings.Address, l.Settings.Port))];

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
    {
        var commandLine = ServerCommandLine.Parse(args);
        if (commandLine.Help || commandLine.Version)
        {
            throw new StarlingStartupException("--help and --version are for the command line; StarlingServer.StartAsync starts a server.");
        }
        return StartCoreAsync(commandLine, configOverrides, loggerProvider, useConsoleLifetime: false, cancellationToken);
    }

    internal static async Task<StarlingServer> StartCoreAsync(ServerCommandLine commandLine, IDictionary<string, string?>? configOverrides,
        ILoggerProvider? loggerProvider, bool useConsoleLifetime, CancellationToken cancellationToken)
    {
        var configuration = ServerConfiguration.Build(commandLine, configOverrides);
        var settings = configuration.Read();
        var listenOptions = new List<(ListenerSettings, ListenOptions)>();
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
            listenOptions.Clear();
            foreach (var listener in settings.Listeners)
            {
                var feature = new MqttListenerFeature(listener.Name);
                kestrel.Listen(listener.Address, listener.Port, lo =>
                {
                    lo.Use(next => connection =>
                    {
                        connection.Features.Set(feature);
                        return next(connection);
                    });
                    settings.Security.Tls.GetValueOrDefault(listener.Name)?.Configure(lo);
                    lo.UseConnectionHandler<MqttConnectionHandler>();
                    listenOptions.Add((listener, lo));
                });
            }
            operations.Listen(kestrel);
        });

        builder.Services.AddSingleton(settings);
        operations.AddServices(builder.Services);
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
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (Exception ex) when (FindBindError(ex) is { } socketError)
            {
                throw operations.BindError(socketError, ex) ?? BindError(settings.Listeners, socketError, ex);
            }

            var server = new StarlingServer(app, broker, listenOptions);
            Security.SecurityHost.Start(app, settings.Security);
            operations.Start(app, broker);
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server");
            logger.LogInformation("Starling {Version} listening on {Endpoints}", ServerCommandLine.VersionText(),
                string.Join(", ", server._listenOptions.Zip(server.MqttEndpoints).Select(p => $"{p.Second} ({p.First.Settings.Name})")));
            return server;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
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

    private static StarlingStartupException BindError(IReadOnlyList<ListenerSettings> listeners, SocketError? error, Exception ex)
    {
        // Kestrel has released whatever it bound; find the listener that cannot be bound by trying each one again.
        var failed = listeners.FirstOrDefault(l => !CanBind(l)) ?? listeners[0];
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
            return _stopTask ??= _app.StopAsync();
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

    /// <summary>In-process servers (tests) leave SIGTERM and Ctrl+C to the process that hosts them.</summary>
    private sealed class InProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
