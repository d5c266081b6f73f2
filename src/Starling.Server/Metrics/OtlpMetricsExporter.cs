using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Starling.Server.Logging;
using Starling.Server.Management;

namespace Starling.Server.Metrics;

/// <summary>Pushes the "Starling" meter to an OpenTelemetry collector over OTLP when Metrics:Otlp:Endpoint is set.</summary>
internal static class OtlpMetricsExporter
{
    /// <summary>Starts the exporter; dispose the result to flush and stop it. Null when OTLP is not configured.</summary>
    public static IDisposable? Start(MetricsSettings settings, ILogger logger)
    {
        if (settings.OtlpEndpoint is not { } endpoint)
        {
            return null;
        }
        var provider = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => r.AddService("starling", serviceVersion: ServerCommandLine.VersionText()))
            .AddMeter(StarlingMetrics.MeterName)
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = endpoint;
                exporter.Protocol = settings.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                if (settings.OtlpHeaders is { Length: > 0 } headers)
                {
                    exporter.Headers = headers;
                }
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)settings.OtlpInterval.TotalMilliseconds;
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
            })
            .Build();
        ManagementLog.OtlpExporting(logger, settings.OtlpProtocol, endpoint, settings.OtlpInterval.TotalSeconds);
        return provider;
    }
}
