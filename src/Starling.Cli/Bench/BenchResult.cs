using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Starling.Cli.Bench;

/// <summary>The summary of one bench run; counts in the measured window unless named "Total".</summary>
public sealed class BenchResult
{
    public BenchMode Mode { get; init; }
    public int Clients { get; init; }
    public int QoS { get; init; }
    public int PayloadSize { get; init; }
    public int Connected { get; set; }
    public int ConnectFailures { get; set; }
    public int ConnectionsLost { get; set; }
    public string? FirstError { get; set; }

    /// <summary>Seconds of the measured window actually elapsed.</summary>
    public double WindowSeconds { get; set; }

    public long TotalSent { get; set; }
    public long TotalCompleted { get; set; }
    public long TotalReceived { get; set; }
    public long Sent { get; set; }
    public long Completed { get; set; }
    public long Received { get; set; }

    /// <summary>pub at a fixed rate: messages due but not sent because the QoS 1/2 window was full.</summary>
    public long Skipped { get; set; }

    public long AckErrors { get; set; }

    /// <summary>Messages per second in the window: sent (pub) or received (sub).</summary>
    public double Rate { get; set; }

    /// <summary>pub QoS 1/2: acknowledged flows per second in the window.</summary>
    public double CompletedRate { get; set; }

    /// <summary>sub: end-to-end latency in microseconds.</summary>
    public long LatencyCount { get; set; }
    public double LatencyMeanUs { get; set; }
    public long LatencyP50Us { get; set; }
    public long LatencyP99Us { get; set; }
    public long LatencyP999Us { get; set; }
    public long LatencyMaxUs { get; set; }

    /// <summary>conn: time from the first connect to the last CONNACK, and connections per second over it.</summary>
    public double ConnectSeconds { get; set; }
    public double ConnectRate { get; set; }
    public long ConnectP50Us { get; set; }
    public long ConnectP99Us { get; set; }
    public long? BrokerRssBeforeKiB { get; set; }
    public long? BrokerRssAfterKiB { get; set; }
    public double? BrokerRssPerConnectionKiB { get; set; }

    /// <summary>CPU seconds (user + system) of this generator process in the measured window (conn: up to the last CONNACK).</summary>
    public double GeneratorCpuSeconds { get; set; }

    /// <summary>False when the run ended early: lost connections, a limit not reached before the timeout.</summary>
    public bool Complete { get; set; } = true;

    public string ToText()
    {
        var c = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(c, $"bench {Mode.ToString().ToLowerInvariant()}: {Connected}/{Clients} clients connected");
        text.Append(ConnectFailures > 0 ? $", {ConnectFailures} failed" : "").Append(ConnectionsLost > 0 ? $", {ConnectionsLost} lost" : "");
        text.AppendLine(Mode == BenchMode.Conn ? "" : string.Create(c, $", QoS {QoS}, payload {PayloadSize} B"));
        switch (Mode)
        {
            case BenchMode.Pub:
                text.Append(c, $"  window {WindowSeconds:0.00} s: sent {Sent:N0} ({Rate:N0} msg/s)");
                text.Append(QoS > 0 ? string.Create(c, $", acknowledged {Completed:N0} ({CompletedRate:N0} msg/s)") : "");
                text.AppendLine(Skipped > 0 ? string.Create(c, $", skipped {Skipped:N0}") : "");
                text.Append(c, $"  total: sent {TotalSent:N0}").Append(QoS > 0 ? string.Create(c, $", acknowledged {TotalCompleted:N0}") : "");
                text.AppendLine(AckErrors > 0 ? string.Create(c, $", error acks {AckErrors:N0}") : "");
                break;
            case BenchMode.Sub:
                text.AppendLine(c, $"  window {WindowSeconds:0.00} s: received {Received:N0} ({Rate:N0} msg/s); total received {TotalReceived:N0}");
                if (LatencyCount > 0)
                {
                    text.AppendLine(c, $"  latency ms: p50 {LatencyP50Us / 1000.0:0.000}  p99 {LatencyP99Us / 1000.0:0.000}  " +
                    $"p99.9 {LatencyP999Us / 1000.0:0.000}  max {LatencyMaxUs / 1000.0:0.000}  mean {LatencyMeanUs / 1000.0:0.000} ({LatencyCount:N0} samples)");
                }
                break;
            default:
                text.AppendLine(c, $"  connected in {ConnectSeconds:0.00} s: {ConnectRate:N0} conn/s; CONNACK after p50 {ConnectP50Us / 1000.0:0.0} ms, " +
                    $"p99 {ConnectP99Us / 1000.0:0.0} ms");
                if (BrokerRssBeforeKiB is { } before && BrokerRssAfterKiB is { } after)
                {
                    text.AppendLine(c, $"  broker RSS {before / 1024.0:N1} MiB -> {after / 1024.0:N1} MiB: {BrokerRssPerConnectionKiB:N2} KiB per connection");
                }
                break;
        }
        text.AppendLine(c, $"  generator CPU {GeneratorCpuSeconds:0.00} s {(Mode == BenchMode.Conn ? "while connecting" : "in the window")}");
        if (FirstError is not null)
        {
            text.AppendLine(c, $"  first error: {FirstError}");
        }
        if (!Complete)
        {
            text.AppendLine("  INCOMPLETE run");
        }
        return text.ToString();
    }

    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("mode", Mode.ToString().ToLowerInvariant());
        w.WriteNumber("clients", Clients);
        w.WriteNumber("qos", QoS);
        w.WriteNumber("payloadSize", PayloadSize);
        w.WriteNumber("connected", Connected);
        w.WriteNumber("connectFailures", ConnectFailures);
        w.WriteNumber("connectionsLost", ConnectionsLost);
        w.WriteBoolean("complete", Complete);
        w.WriteNumber("windowSeconds", Math.Round(WindowSeconds, 3));
        w.WriteNumber("sent", Sent);
        w.WriteNumber("completed", Completed);
        w.WriteNumber("received", Received);
        w.WriteNumber("totalSent", TotalSent);
        w.WriteNumber("totalCompleted", TotalCompleted);
        w.WriteNumber("totalReceived", TotalReceived);
        w.WriteNumber("skipped", Skipped);
        w.WriteNumber("ackErrors", AckErrors);
        w.WriteNumber("rate", Math.Round(Rate, 1));
        w.WriteNumber("completedRate", Math.Round(CompletedRate, 1));
        w.WriteNumber("generatorCpuSeconds", Math.Round(GeneratorCpuSeconds, 3));
        w.WriteStartObject("latencyUs");
        w.WriteNumber("count", LatencyCount);
        w.WriteNumber("mean", Math.Round(LatencyMeanUs, 1));
        w.WriteNumber("p50", LatencyP50Us);
        w.WriteNumber("p99", LatencyP99Us);
        w.WriteNumber("p999", LatencyP999Us);
        w.WriteNumber("max", LatencyMaxUs);
        w.WriteEndObject();
        w.WriteNumber("connectSeconds", Math.Round(ConnectSeconds, 3));
        w.WriteNumber("connectRate", Math.Round(ConnectRate, 1));
        w.WriteNumber("connectP50Us", ConnectP50Us);
        w.WriteNumber("connectP99Us", ConnectP99Us);
        WriteNullable(w, "brokerRssBeforeKiB", BrokerRssBeforeKiB);
        WriteNullable(w, "brokerRssAfterKiB", BrokerRssAfterKiB);
        if (BrokerRssPerConnectionKiB is { } perConnection)
        {
            w.WriteNumber("brokerRssPerConnectionKiB", Math.Round(perConnection, 3));
        }
        else
        {
            w.WriteNull("brokerRssPerConnectionKiB");
        }
        if (FirstError is null)
        {
            w.WriteNull("firstError");
        }
        else
        {
            w.WriteString("firstError", FirstError);
        }
        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
