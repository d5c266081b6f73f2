using System.Net;
using Microsoft.Extensions.Logging;
using Starling.Server;

namespace Starling.Storage.Tests.Infrastructure;

/// <summary>A Starling server in this process on port 0 with a given data directory; fails on dispose if it logged errors.</summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly LogCapture _logs;

    private InProcessServer(StarlingServer server, LogCapture logs)
    {
        Server = server;
        _logs = logs;
        var e = server.MqttEndpoints[0];
        Endpoint = new IPEndPoint(IPAddress.Loopback, e.Port);
    }

    public StarlingServer Server { get; }

    public IPEndPoint Endpoint { get; }

    public IReadOnlyList<string> Lines => _logs.Lines;

    /// <summary>Starts with storage in <paramref name="dataDirectory"/>, or memory mode when it is null.</summary>
    public static async Task<InProcessServer> StartAsync(string? dataDirectory, IDictionary<string, string?>? overrides = null)
    {
        var config = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (dataDirectory is null)
        {
            config["Storage:Mode"] = "memory";
        }
        else
        {
            config["Storage:DataDirectory"] = dataDirectory;
        }
        foreach (var (k, v) in overrides ?? new Dictionary<string, string?>())
        {
            config[k] = v;
        }
        var logs = new LogCapture();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = await StarlingServer.StartAsync(["--port", "0", "--bind", "127.0.0.1"], config, logs, cts.Token);
        return new InProcessServer(server, logs);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        var errors = _logs.Errors;
        Assert.True(errors.Count == 0, "the server logged errors:\n" + string.Join("\n", errors));
    }
}

/// <summary>Collects log lines; errors separately.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly List<string> _lines = [];
    private readonly List<string> _errors = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) { return [.. _lines]; } } }

    public IReadOnlyList<string> Errors { get { lock (_lines) { return [.. _errors]; } } }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogLevel level, string category, string text)
    {
        lock (_lines)
        {
            var line = $"{level} {category}: {text}";
            _lines.Add(line);
            if (level >= LogLevel.Error)
            {
                _errors.Add(line);
            }
        }
    }

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Add(logLevel, category, formatter(state, exception) + (exception is null ? "" : " | " + exception.Message));
    }
}
