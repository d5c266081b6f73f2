using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.OpenApi;
using Starling.Broker;
using Starling.Broker.Sys;
using Starling.Server.Dashboard;
using Starling.Server.Logging;
using Starling.Server.Metrics;
using Starling.Server.WebSockets;

namespace Starling.Server.Management;

/// <summary>
/// Glue between the host (StarlingServer) and the operations parts: the HTTP listeners (MQTT over WebSockets, the
/// management port), their request pipeline, the $SYS publisher, metrics exporters. One per server, a singleton.
/// </summary>
internal sealed class OperationsRuntime(ServerSettings settings, WebSocketListener? webSockets) : IDisposable
{
    /// <summary>Connection item naming the HTTP listener a connection came in on.</summary>
    public const string ListenerItemKey = "starling.http-listener";
    public const string ManagementListenerName = "management";

    private ListenOptions? _managementListen;
    private SysTopicPublisher? _sys;
    private IDisposable? _otlp;

    private OperationsSettings Operations => settings.Operations;

    private bool AnyHttp => Operations.WebSockets.Enabled || Operations.Management.Enabled;

    /// <summary>The bound MQTT over WebSockets endpoint (null when disabled or not started).</summary>
    public IPEndPoint? WebSocketEndpoint => webSockets is { IsBound: true } ? webSockets.EndPoint : null;

    /// <summary>The bound management endpoint (null when disabled or not started).</summary>
    public IPEndPoint? ManagementEndpoint => Operations.Management.Enabled ? _managementListen?.IPEndPoint : null;

    /// <summary>The running $SYS publisher, if any.</summary>
    public SysTopicPublisher? SysPublisher => _sys;

    public void AddServices(IServiceCollection services)
    {
        services.AddSingleton(this);
        services.AddSingleton<StarlingMetrics>();
        services.AddSingleton<PrometheusExporter>();
        if (!AnyHttp)
        {
            return;
        }
        services.AddRouting();
        services.AddSingleton<MqttWebSocketHandler>();
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
        });
        if (Operations.Management.Enabled)
        {
            services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Starling management API",
                    Version = ServerCommandLine.VersionText(),
                    Description = "Management of the Starling MQTT broker. Every /api endpoint needs an API key from Management:ApiKeys, " +
                        "sent as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'; /health, /ready and (by default) /metrics are open.",
                };
                return Task.CompletedTask;
            }));
        }
    }

    /// <summary>Whether <see cref="Listen"/> adds a Kestrel endpoint (the management port).</summary>
    public bool UsesKestrel => Operations.Management is { Enabled: true };

    /// <summary>
    /// Adds the management listener to Kestrel (called from ConfigureKestrel, possibly more than once). The WebSocket
    /// listener is an MQTT listener (<see cref="WebSocketListener"/>), added with the others.
    /// </summary>
    public void Listen(KestrelServerOptions kestrel, Transport.SocketBudget sockets)
    {
        if (Operations.Management is { Enabled: true } management)
        {
            kestrel.Listen(management.Address, management.Port, lo =>
            {
                lo.Protocols = HttpProtocols.Http1;
                // First: the socket's slot (taken at accept) and a slot of the HTTP share, both given back at the end.
                Transport.CountingListenerFactory.Count(lo, sockets, ManagementListenerName);
                Tag(lo, ManagementListenerName);
                management.Tls?.Configure(lo);
                _managementListen = lo;
            });
        }
    }

    /// <summary>Names the HTTP listener on each of its connections (<see cref="ListenerItemKey"/>), for the request pipeline.</summary>
    public static void Tag(ListenOptions listen, string name)
        => listen.Use(next => connection =>
        {
            connection.Items[ListenerItemKey] = name;
            return next(connection);
        });

    /// <summary>The HTTP pipeline: WebSocket upgrades on the WebSocket listener, API and dashboard on the management listener.</summary>
    public void Configure(WebApplication app)
    {
        if (!AnyHttp)
        {
            return;
        }
        app.UseWebSockets();
        var webSockets = app.Services.GetRequiredService<MqttWebSocketHandler>();
        app.Use(async (context, next) =>
        {
            var listener = MqttWebSocketHandler.ListenerOf(context);
            if (listener == WebSocketListenerSettings.ListenerName)
            {
                await webSockets.HandleAsync(context);
                return;
            }
            if (listener != ManagementListenerName)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(context);
        });
        app.UseRouting();
        if (Operations.Management.Enabled)
        {
            ManagementApi.Map(app, settings);
            app.MapOpenApi("/openapi.json");
            if (Operations.Management.Dashboard)
            {
                DashboardFiles.Map(app);
            }
        }
    }

    /// <summary>After Kestrel bound: logs the endpoints, starts $SYS and OTLP; stops them with the host.</summary>
    public void Start(WebApplication app, MqttBroker broker)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Server.Operations");
        if (WebSocketEndpoint is { } ws)
        {
            ManagementLog.WebSocketsListening(logger, Operations.WebSockets.Tls is null ? "ws" : "wss", ws, Operations.WebSockets.Path);
        }
        if (ManagementEndpoint is { } management)
        {
            ManagementLog.ManagementListening(logger, Operations.Management.Dashboard ? " and dashboard" : "", Operations.Management.Tls is null ? "http" : "https", management);
            if (Operations.Management.ApiKeyGenerated)
            {
                // The key is a credential: logs are shipped and kept, so it goes to the terminal once (or, when standard
                // error is captured, to an owner-only file), never to the logger.
                GeneratedApiKey.Announce(Operations.Management.ApiKeys[0], settings.Storage.DataDirectory, logger);
            }
        }
        if (Operations.SysInterval > TimeSpan.Zero)
        {
            _sys = new SysTopicPublisher(broker, Operations.SysInterval, "starling " + ServerCommandLine.VersionText(), app.Services.GetRequiredService<BrokerClock>().Time,
                app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Starling.Broker.Sys"));
            _sys.Start();
        }
        _otlp = OtlpMetricsExporter.Start(Operations.Metrics, logger);
        // Metrics read the broker when collected; make sure the meter exists even if nothing scraped yet (OTLP).
        app.Services.GetRequiredService<StarlingMetrics>();
        app.Lifetime.ApplicationStopping.Register(() => _sys?.Dispose());
        app.Lifetime.ApplicationStopped.Register(Dispose);
    }

    public void Dispose()
    {
        _sys?.Dispose();
        _otlp?.Dispose();
        Operations.WebSockets.Tls?.Dispose();
        Operations.Management.Tls?.Dispose();
    }

    /// <summary>A bind failure of one of the HTTP listeners, explained; null when they can all be bound.</summary>
    public StarlingStartupException? BindError(SocketError? error, Exception ex)
    {
        foreach (var (name, key, enabled, address, port) in new[]
        {
            ("WebSockets", "WebSockets:Port", Operations.WebSockets.Enabled, Operations.WebSockets.Address, Operations.WebSockets.Port),
            ("management", "Management:Port", Operations.Management.Enabled, Operations.Management.Address, Operations.Management.Port),
        })
        {
            if (!enabled || port == 0 || CanBind(address, port))
            {
                continue;
            }
            var where = $"{new IPEndPoint(address, port)} ({name} listener)";
            var message = error switch
            {
                SocketError.AddressAlreadyInUse => $"Cannot listen on {where}: the address is already in use. Stop that process, choose another {key}, or turn the listener off.",
                SocketError.AccessDenied => $"Cannot listen on {where}: permission denied. Choose another {key} (above 1023).",
                _ => $"Cannot listen on {where}: {ex.InnerException?.Message ?? ex.Message}",
            };
            return new StarlingStartupException(message, ex);
        }
        return null;
    }

    private static bool CanBind(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
