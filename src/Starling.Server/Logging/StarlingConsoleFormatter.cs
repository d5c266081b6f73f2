using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Starling.Server.Logging;

/// <summary>
/// One line per entry: "2025-01-31T12:00:00.123Z INF MqttConnectionHandler: message" (UTC timestamp, three-letter
/// level, last segment of the category). An exception follows on the next lines, indented.
/// </summary>
internal sealed class StarlingConsoleFormatter : ConsoleFormatter
{
    public const string FormatterName = "starling";

    public StarlingConsoleFormatter() : base(FormatterName) { }

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }
        var category = logEntry.Category;
        var dot = category.LastIndexOf('.');
        if (dot >= 0 && dot < category.Length - 1)
        {
            category = category[(dot + 1)..];
        }

        textWriter.Write(DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
        textWriter.Write(' ');
        textWriter.Write(LevelText(logEntry.LogLevel));
        textWriter.Write(' ');
        textWriter.Write(category);
        textWriter.Write(": ");
        textWriter.Write(message);
        if (logEntry.Exception is { } exception)
        {
            foreach (var line in exception.ToString().Split('\n'))
            {
                textWriter.Write('\n');
                textWriter.Write("    ");
                textWriter.Write(line.TrimEnd('\r'));
            }
        }
        textWriter.Write('\n');
    }

    private static string LevelText(LogLevel level) => level switch
    {
        LogLevel.Trace => "TRC",
        LogLevel.Debug => "DBG",
        LogLevel.Information => "INF",
        LogLevel.Warning => "WRN",
        LogLevel.Error => "ERR",
        LogLevel.Critical => "CRT",
        _ => "???",
    };
}
