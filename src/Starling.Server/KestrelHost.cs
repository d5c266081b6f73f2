using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Starling.Server.Listeners;
using Starling.Server.Management;
using Starling.Server.Transport;

namespace Starling.Server;

/// <summary>
/// The web host, used only when a listener needs Kestrel (TLS, <c>"Transport": "kestrel"</c>, WebSockets, the management
/// port). Every ASP.NET Core type of the start-up lives here, behind methods whose signatures name none, so that a
/// server whose listeners are all Starling's own never loads ASP.NET Core (<see cref="ServerStartup.BuildHost"/>).
/// </summary>
internal static class KestrelHost
{
    /// <summary>A web application builder without defaults (no URLs, no configuration sources but ours).</summary>
    public static IHostApplicationBuilder CreateBuilder()
        => WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "starling-server",
            ContentRootPath = AppContext.BaseDirectory,
        });

    /// <summary>Builds the web application made by <see cref="CreateBuilder"/>.</summary>
    public static IHost Build(IHostApplicationBuilder builder) => ((WebApplicationBuilder)builder).Build();

    /// <summary>
    /// Kestrel with the endpoints of the Kestrel-served <paramref name="listeners"/> and of <paramref name="operations"/>,
    /// and the HTTP services when an HTTP listener (management, WebSockets) is on.
    /// </summary>
    public static void AddKestrel(IHostApplicationBuilder builder, ServerSettings settings, IReadOnlyList<IMqttListener> listeners,
        OperationsRuntime operations)
    {
        var webHost = ((WebApplicationBuilder)builder).WebHost;
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
        builder.Services.RemoveAll<IConnectionListenerFactory>();
        builder.Services.AddSingleton<IConnectionListenerFactory>(sp =>
            new CountingListenerFactory(ActivatorUtilities.CreateInstance<SocketTransportFactory>(sp), sp));
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
            kestrel.Limits.RequestHeadersTimeout = ServerStartup.HttpRequestHeadersTimeout;
            kestrel.Limits.KeepAliveTimeout = ServerStartup.HttpKeepAliveTimeout;
            // Runs when Kestrel starts, after CreateBroker: the admission (and its broker) exist.
            var admission = kestrel.ApplicationServices.GetRequiredService<ConnectionAdmission>();
            foreach (var listener in listeners)
            {
                listener.Configure(kestrel, admission);
            }
            OperationsHttp.Listen(operations, kestrel, admission.Sockets);
        });
        if (operations.AnyHttp)
        {
            OperationsHttp.AddServices(builder.Services, settings.Operations);
        }
    }

    /// <summary>The HTTP pipeline of a web host (<see cref="OperationsHttp.Configure"/>): only when an HTTP listener is on.</summary>
    public static void ConfigurePipeline(IHost host, ServerSettings settings) => OperationsHttp.Configure((WebApplication)host, settings);
}
