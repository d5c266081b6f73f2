using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Starling.Server.Metrics;

/// <summary>
/// Writes the instruments of one <see cref="Meter"/> in the Prometheus text exposition format (version 0.0.4) for
/// GET /metrics. Observable instruments are read at each scrape; counters and up-down counters that are recorded
/// (not observed) are summed since start. Names: dots become underscores, counters end in <c>_total</c>, a unit of
/// seconds or bytes is appended when the name does not say it already.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly List<Instrument> _instruments = [];

    // Observed values of the scrape in progress, and running sums of recorded (non-observable) instruments.
    private readonly Dictionary<Instrument, Dictionary<string, double>> _observed = [];
    private readonly Dictionary<Instrument, Dictionary<string, double>> _sums = [];

    public PrometheusExporter(StarlingMetrics metrics)
    {
        _meter = metrics.Meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
            {
                lock (_lock)
                {
                    _instruments.Add(instrument);
                }
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => OnMeasurement(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => OnMeasurement(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => OnMeasurement(i, v, tags));
        _listener.Start();
    }

    private void OnMeasurement(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = Labels(tags);
        lock (_lock)
        {
            if (instrument.IsObservable)
            {
                Values(_observed, instrument)[labels] = value;
            }
            else
            {
                var sums = Values(_sums, instrument);
                sums[labels] = sums.GetValueOrDefault(labels) + value;
            }
        }
    }

    private static Dictionary<string, double> Values(Dictionary<Instrument, Dictionary<string, double>> all, Instrument instrument)
    {
        if (!all.TryGetValue(instrument, out var values))
        {
            values = new Dictionary<string, double>(StringComparer.Ordinal);
            all[instrument] = values;
        }
        return values;
    }

    /// <summary>The whole exposition, read now.</summary>
    public string Scrape()
    {
        lock (_lock)
        {
            _observed.Clear();
            // Observable callbacks run here, on this thread, and land in OnMeasurement (the lock is re-entrant).
            _listener.RecordObservableInstruments();
            var text = new StringBuilder(4096);
            foreach (var instrument in _instruments)
            {
                var values = instrument.IsObservable ? _observed.GetValueOrDefault(instrument) : _sums.GetValueOrDefault(instrument);
                var isCounter = instrument.GetType().Name.StartsWith("ObservableCounter", StringComparison.Ordinal)
                    || instrument.GetType().Name.StartsWith("Counter", StringComparison.Ordinal);
                var name = MetricName(instrument, isCounter);
                if (instrument.Description is { Length: > 0 } help)
                {
                    text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
                }
                text.Append("# TYPE ").Append(name).Append(' ').Append(isCounter ? "counter" : "gauge").Append('\n');
                if (values is null || values.Count == 0)
                {
                    // Always expose the series so a dashboard sees 0 rather than nothing.
                    if (!instrument.IsObservable)
                    {
                        text.Append(name).Append(" 0\n");
                    }
                    continue;
                }
                foreach (var (labels, value) in values.OrderBy(v => v.Key, StringComparer.Ordinal))
                {
                    text.Append(name).Append(labels).Append(' ').Append(Number(value)).Append('\n');
                }
            }
            return text.ToString();
        }
    }

    internal static string MetricName(Instrument instrument, bool isCounter)
    {
        var name = new StringBuilder(instrument.Name.Length + 16);
        foreach (var ch in instrument.Name)
        {
            name.Append(char.IsAsciiLetterOrDigit(ch) || ch is '_' or ':' ? ch : '_');
        }
        var text = name.ToString();
        text = instrument.Unit switch
        {
            "s" when !text.EndsWith("_seconds", StringComparison.Ordinal) => text + "_seconds",
            "By" when !text.Contains("bytes", StringComparison.Ordinal) => text + "_bytes",
            _ => text,
        };
        return isCounter && !text.EndsWith("_total", StringComparison.Ordinal) ? text + "_total" : text;
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
        {
            return string.Empty;
        }
        var sorted = tags.ToArray();
        Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var text = new StringBuilder("{");
        for (var i = 0; i < sorted.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }
            foreach (var ch in sorted[i].Key)
            {
                text.Append(char.IsAsciiLetterOrDigit(ch) || ch == '_' ? ch : '_');
            }
            text.Append("=\"");
            var value = Convert.ToString(sorted[i].Value, CultureInfo.InvariantCulture) ?? string.Empty;
            text.Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
                .Replace("\n", "\\n", StringComparison.Ordinal));
            text.Append('"');
        }
        return text.Append('}').ToString();
    }

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    public void Dispose() => _listener.Dispose();
}
