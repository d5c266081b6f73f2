using System.Text;
using Starling.Broker;
using Starling.Protocol;
using Starling.Server.Metrics;

namespace Starling.Server.Management;

/// <summary>The management HTTP API (minimal APIs, JSON) under /api, plus /health, /ready and /metrics.</summary>
internal static class ManagementApi
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;

    public static void Map(WebApplication app, ServerSettings settings)
    {
        var auth = new ApiKeyAuthorization(settings.Operations.Management);
        var lifetime = app.Lifetime;

        app.MapGet("/health", () => TypedResults.Ok(new StatusModel("healthy")))
            .WithTags("Health").WithSummary("Liveness: 200 while the process serves HTTP. Needs no API key.");
        app.MapGet("/ready", IResult () =>
                lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
                    ? TypedResults.Ok(new StatusModel("ready"))
                    : TypedResults.Json(new StatusModel("not ready"), ManagementJsonContext.Default.StatusModel, statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithTags("Health").WithSummary("Readiness: 200 once every listener is bound, 503 before and while stopping. Needs no API key.")
            .Produces<StatusModel>().Produces<StatusModel>(StatusCodes.Status503ServiceUnavailable);

        if (settings.Operations.Metrics.Prometheus)
        {
            var metrics = app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Scrape(), PrometheusExporter.ContentType))
                .WithTags("Metrics").WithSummary("Metrics in the Prometheus text format.")
                .Produces<string>(contentType: "text/plain");
            if (settings.Operations.Metrics.RequireApiKey)
            {
                metrics.AddEndpointFilter(auth.FilterAsync);
            }
        }

        var api = app.MapGroup("/api").AddEndpointFilter(auth.FilterAsync).WithTags("Management");

        api.MapGet("/info", (ServerSettings s, OperationsRuntime runtime) =>
        {
            var ws = s.Operations.WebSockets;
            return TypedResults.Ok(new ServerInfoModel(ServerCommandLine.VersionText(),
                new WebSocketInfoModel(ws.Enabled, runtime.WebSocketEndpoint?.Port, ws.Path, ws.Tls is not null)));
        }).WithSummary("Server version and the MQTT over WebSockets listener.");

        api.MapGet("/stats", (BrokerService b) => TypedResults.Ok(Stats(b.Broker)))
            .WithSummary("Broker-wide figures.");

        api.MapGet("/clients", (BrokerService b, string? search, int? offset, int? limit) =>
                TypedResults.Ok(Page(Sessions(b.Broker, search, connected: true), offset, limit)))
            .WithSummary("Connected clients, optionally filtered by a search text (client id, address, username).");

        api.MapGet("/sessions", (BrokerService b, string? search, bool? connected, int? offset, int? limit) =>
                TypedResults.Ok(Page(Sessions(b.Broker, search, connected), offset, limit)))
            .WithSummary("Sessions, connected or not, optionally filtered by a search text and by connected.");

        api.MapGet("/sessions/{clientId}", IResult (BrokerService b, string clientId) =>
                b.Broker.GetSession(clientId) is { } s
                    ? TypedResults.Ok(new SessionDetailModel(SessionModel.From(s),
                        [.. b.Broker.GetSubscriptions(clientId).Select(x => SubscriptionModel.From(clientId, x))]))
                    : NotFound($"No session for client id '{clientId}'."))
            .WithSummary("One session: its client, subscriptions, queue depth and inflight count.")
            .Produces<SessionDetailModel>().Produces<ErrorModel>(StatusCodes.Status404NotFound);

        api.MapPost("/clients/{clientId}/disconnect", IResult (BrokerService b, string clientId) =>
                b.Broker.DisconnectClient(clientId) ? TypedResults.NoContent() : NotFound($"Client '{clientId}' is not connected."))
            .WithSummary("Disconnects a client (v5: DISCONNECT 0x98 administrative action); its session stays by its own rules.")
            .Produces(StatusCodes.Status204NoContent).Produces<ErrorModel>(StatusCodes.Status404NotFound);

        api.MapDelete("/sessions/{clientId}", IResult (BrokerService b, string clientId) =>
                b.Broker.DeleteSession(clientId) ? TypedResults.NoContent() : NotFound($"No session for client id '{clientId}'."))
            .WithSummary("Disconnects the client if connected and discards its session.")
            .Produces(StatusCodes.Status204NoContent).Produces<ErrorModel>(StatusCodes.Status404NotFound);

        api.MapGet("/subscriptions", (BrokerService b, string? search, int? offset, int? limit) =>
            {
                var all = b.Broker.GetSessions()
                    .SelectMany(s => b.Broker.GetSubscriptions(s.ClientId).Select(x => SubscriptionModel.From(s.ClientId, x)))
                    .Where(x => search is not { Length: > 0 } || x.TopicFilter.Contains(search, StringComparison.OrdinalIgnoreCase)
                        || x.ClientId.Contains(search, StringComparison.OrdinalIgnoreCase))
                    .OrderBy(x => x.TopicFilter, StringComparer.Ordinal).ThenBy(x => x.ClientId, StringComparer.Ordinal)
                    .ToList();
                return TypedResults.Ok(Page(all, offset, limit));
            })
            .WithSummary("Every subscription of every session, optionally filtered by a search text (topic filter or client id).");

        api.MapGet("/retained", IResult (BrokerService b, string? filter, string? search, int? offset, int? limit) =>
            {
                if (filter is { Length: > 0 } && !TopicValidator.IsValidTopicFilter(filter))
                {
                    return BadRequest($"'{filter}' is not a valid topic filter.");
                }
                // Page first, convert only the page, and only a preview of each payload: the dashboard polls this,
                // and converting every retained payload (text and base64 of megabytes each) per poll cost hundreds of MiB.
                var all = b.Broker.GetRetainedMessages(filter is { Length: > 0 } ? filter : null)
                    .Where(m => search is not { Length: > 0 } || m.Topic.Contains(search, StringComparison.OrdinalIgnoreCase))
                    .OrderBy(m => m.Topic, StringComparer.Ordinal)
                    .ToList();
                var page = Page(all, offset, limit);
                return TypedResults.Ok(new ListResult<RetainedMessageModel>(page.Total, page.Offset, [.. page.Items.Select(RetainedMessageModel.From)]));
            })
            .WithSummary("Retained messages, optionally only those matching an MQTT topic filter and/or containing a search text; "
                + "each payload as a preview of its first 1,024 bytes (payloadTruncated says when it is longer; payloadSize is the whole size).")
            .Produces<ListResult<RetainedMessageModel>>().Produces<ErrorModel>(StatusCodes.Status400BadRequest);

        // topic: a simple parameter not in the route binds from the query string (?topic=).
        api.MapDelete("/retained", IResult (BrokerService b, string topic) =>
                b.Broker.DeleteRetainedMessage(topic) ? TypedResults.NoContent() : NotFound($"No retained message on topic '{topic}'."))
            .WithSummary("Deletes the retained message of a topic (given as ?topic=).")
            .Produces(StatusCodes.Status204NoContent).Produces<ErrorModel>(StatusCodes.Status404NotFound);

        api.MapPost("/publish", IResult (BrokerService b, PublishRequest request) => Publish(b.Broker, request))
            .WithSummary("Publishes a message from the broker itself.")
            .Produces<PublishResult>().Produces<ErrorModel>(StatusCodes.Status400BadRequest);
    }

    private static IResult Publish(MqttBroker broker, PublishRequest request)
    {
        if (string.IsNullOrEmpty(request.Topic) || !TopicValidator.IsValidTopicName(request.Topic))
        {
            return BadRequest("'topic' must be a valid MQTT topic name (no wildcards, not empty).");
        }
        if (request.QoS is < 0 or > 2)
        {
            return BadRequest("'qoS' must be 0, 1 or 2.");
        }
        if (request.Payload is not null && request.PayloadBase64 is not null)
        {
            return BadRequest("Give 'payload' (text) or 'payloadBase64', not both.");
        }
        byte[] payload;
        try
        {
            payload = request.PayloadBase64 is { } b64 ? Convert.FromBase64String(b64) : Encoding.UTF8.GetBytes(request.Payload ?? string.Empty);
        }
        catch (FormatException)
        {
            return BadRequest("'payloadBase64' is not valid base64.");
        }
        var qos = (QualityOfService)Math.Min(request.QoS, (int)broker.Options.MaximumQoS);
        var receivers = broker.Publish(request.Topic, payload, qos, request.Retain);
        return TypedResults.Ok(new PublishResult(request.Topic, receivers));
    }

    internal static StatsModel Stats(MqttBroker broker)
    {
        var stats = broker.GetStats();
        // Sampled by the Heartbeat (at most MqttBroker.QueueDepthInterval old): the dashboard polls this, and a walk
        // of every session per request grew with the number of sessions (issue 16, finding 19).
        var depth = broker.GetQueueDepth();
        var security = broker.SecurityCounters;
        return new StatsModel(ServerCommandLine.VersionText(), stats.StartedAt, (long)(DateTimeOffset.UtcNow - stats.StartedAt).TotalSeconds,
            stats.ConnectedClients, broker.PendingConnections, stats.Sessions, stats.Subscriptions, stats.RetainedMessages,
            stats.ConnectionsAccepted, stats.ConnectionsRefused, stats.MessagesReceived, stats.MessagesDelivered, stats.MessagesDropped,
            stats.BytesReceived, stats.BytesSent, depth.Queued, depth.Inflight,
            Interlocked.Read(ref security.AuthenticationFailed) + Interlocked.Read(ref security.AnonymousRefused), broker.GetDropCounts());
    }

    private static List<SessionModel> Sessions(MqttBroker broker, string? search, bool? connected)
        => [.. broker.GetSessions()
            .Where(s => connected is null || s.Connected == connected)
            .Where(s => search is not { Length: > 0 }
                || s.ClientId.Contains(search, StringComparison.OrdinalIgnoreCase)
                || (s.RemoteAddress?.Contains(search, StringComparison.OrdinalIgnoreCase) ?? false)
                || (s.Username?.Contains(search, StringComparison.OrdinalIgnoreCase) ?? false))
            .OrderBy(s => s.ClientId, StringComparer.Ordinal)
            .Select(SessionModel.From)];

    private static ListResult<T> Page<T>(List<T> all, int? offset, int? limit)
    {
        var from = Math.Clamp(offset ?? 0, 0, all.Count);
        var count = Math.Clamp(limit ?? DefaultLimit, 0, MaxLimit);
        return new ListResult<T>(all.Count, from, all.GetRange(from, Math.Min(count, all.Count - from)));
    }

    private static IResult NotFound(string message) => TypedResults.NotFound(new ErrorModel(message));

    private static IResult BadRequest(string message) => TypedResults.BadRequest(new ErrorModel(message));
}
