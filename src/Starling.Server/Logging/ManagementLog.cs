using System.Net;

namespace Starling.Server.Logging;

/// <summary>Log messages of the operations side (event ids 6000-6999): HTTP endpoints, management API keys, metrics export.</summary>
internal static partial class ManagementLog
{
    [LoggerMessage(EventId = 6000, Level = LogLevel.Information, Message = "MQTT over WebSockets on {Scheme}://{Endpoint}{Path} (subprotocol mqtt)")]
    public static partial void WebSocketsListening(ILogger logger, string scheme, IPEndPoint endpoint, string path);

    [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "Management API{Dashboard} on {Scheme}://{Endpoint}/ (OpenAPI at /openapi.json, health at /health, metrics at /metrics)")]
    public static partial void ManagementListening(ILogger logger, string dashboard, string scheme, IPEndPoint endpoint);

    [LoggerMessage(EventId = 6020, Level = LogLevel.Warning, Message = "No Management:ApiKeys configured: an API key for this run was generated and printed once to "
        + "the terminal (standard error), never to the log; set Management:ApiKeys to choose keys that last")]
    public static partial void ApiKeyGenerated(ILogger logger);

    [LoggerMessage(EventId = 6021, Level = LogLevel.Warning, Message = "No Management:ApiKeys configured: an API key for this run was generated and written to "
        + "{Path} (mode 0600, readable only by this user; standard error is not a terminal, so the key is not printed); set Management:ApiKeys to choose keys that last")]
    public static partial void ApiKeyWrittenToFile(ILogger logger, string path);

    [LoggerMessage(EventId = 6022, Level = LogLevel.Error, Message = "No Management:ApiKeys configured and the generated API key could not be written to {Path}: "
        + "{Reason}. The management API cannot be used this run: set Management:ApiKeys, or make the data directory (Storage:DataDirectory, --data-dir) writable")]
    public static partial void ApiKeyFileFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 6010, Level = LogLevel.Information, Message = "Metrics: exporting over OTLP ({Protocol}) to {Endpoint} every {Interval} s")]
    public static partial void OtlpExporting(ILogger logger, object protocol, object endpoint, double interval);
}
