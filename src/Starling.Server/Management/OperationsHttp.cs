using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.OpenApi;
using Starling.Server.Dashboard;
using Starling.Server.WebSockets;

namespace Starling.Server.Management;

/// <summary>
/// The HTTP side of the operations parts: the management listener, the HTTP services and the request pipeline (WebSocket
/// upgrades, management API, dashboard). Called from <see cref="KestrelHost"/> only, so a server without HTTP listeners
/// never loads ASP.NET Core's HTTP, routing and OpenAPI assemblies; <see cref="OperationsRuntime"/> keeps the state.
/// </summary>
internal static class OperationsHttp
{
    /// <summary>Routing, the WebSocket handler, JSON options and (with the management API) the OpenAPI document.</summary>
    public static void AddServices(IServiceCollection services, OperationsSettings operations)
    {
        services.AddRouting();
        services.AddSingleton<MqttWebSocketHandler>();
        services.ConfigureHttpJsonOptions(o =>
        {
            // The generated metadata first (no reflection; Native AOT). No enum converter: the models carry no enum
            // (QoS and the like are numbers, the protocol version is text).
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ManagementJsonContext.Default);
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        });
        if (operations.Management.Enabled)
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

    /// <summary>
    /// Adds the management listener to Kestrel (called from ConfigureKestrel, possibly more than once). The WebSocket
    /// listener is an MQTT listener (<see cref="WebSocketListener"/>), added with the others.
    /// </summary>
    public static void Listen(OperationsRuntime runtime, KestrelServerOptions kestrel, Transport.SocketBudget sockets)
    {
        if (runtime.Settings.Management is { Enabled: true } management)
        {
            kestrel.Listen(management.Address, management.Port, lo =>
            {
                lo.Protocols = HttpProtocols.Http1;
                // First: the socket's slot (taken at accept) and a slot of the HTTP share, both given back at the end.
                Transport.CountingListenerFactory.Count(lo, sockets, OperationsRuntime.ManagementListenerName);
                Tag(lo, OperationsRuntime.ManagementListenerName);
                management.Tls?.Configure(lo);
                runtime.SetManagementEndPoint(() => lo.IPEndPoint);
            });
        }
    }

    /// <summary>Names the HTTP listener on each of its connections (<see cref="OperationsRuntime.ListenerItemKey"/>), for the request pipeline.</summary>
    public static void Tag(ListenOptions listen, string name)
        => listen.Use(next => connection =>
        {
            connection.Items[OperationsRuntime.ListenerItemKey] = name;
            return next(connection);
        });

    /// <summary>The HTTP pipeline: WebSocket upgrades on the WebSocket listener, API and dashboard on the management listener.</summary>
    public static void Configure(WebApplication app, ServerSettings settings)
    {
        var operations = settings.Operations;
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
            if (listener != OperationsRuntime.ManagementListenerName)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(context);
        });
        app.UseRouting();
        if (operations.Management.Enabled)
        {
            ManagementApi.Map(app, settings);
            app.MapOpenApi("/openapi.json");
            if (operations.Management.Dashboard)
            {
                DashboardFiles.Map(app);
            }
        }
    }
}
