using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Starling.Server;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>
/// Starling started in-process on port 0 (<c>StarlingServer.StartAsync(["--port", "0"])</c>), its log captured.
/// Teardown fails the test when the server logged anything at error level: a client's mistake or a killed client is
/// not a server error.
/// </summary>
public sealed class StarlingBroker : TestBroker
{
    private readonly StarlingServer _server;
    private readonly CapturingLoggerProvider _log;

    private StarlingBroker(int port, StarlingServer server, CapturingLoggerProvider log)
        : base(Starling, port)
    {
        _server = server;
        _log = log;
    }

    public static async Task<StarlingBroker> StartAsync(BrokerSettings settings)
    {
        // Memory mode: each test gets a fresh broker and nothing is written to the working directory.
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["Storage:Mode"] = "memory" };
        if (settings.MaxQueuedMessages is { } maxQueued)
        {
            overrides["Limits:MaxQueuedMessages"] = maxQueued.ToString(CultureInfo.InvariantCulture);
        }

        var log = new CapturingLoggerProvider();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = await StarlingServer.StartAsync(["--port", "0", "--bind", "127.0.0.1"], overrides, log, cts.Token);
        var endpoint = server.MqttEndpoints.FirstOrDefault(e => e.AddressFamily == AddressFamily.InterNetwork)
            ?? throw new InvalidOperationException("Starling reports no IPv4 MQTT endpoint");
        if (!endpoint.Address.Equals(IPAddress.Loopback) && !endpoint.Address.Equals(IPAddress.Any))
        {
            throw new InvalidOperationException($"Starling listens on {endpoint}, expected 127.0.0.1");
        }

        return new StarlingBroker(endpoint.Port, server, log);
    }

    public override string Diagnostics() => _log.Tail();

    public override async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        var errors = _log.Errors();
        _log.Dispose();
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Starling logged at error level during the test:\n  " + string.Join("\n  ", errors));
        }
    }

    /// <summary>Keeps the last log lines for failure messages and every error-level entry for the teardown check.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private const int TailSize = 60;
        private readonly Queue<string> _tail = new();
        private readonly List<string> _errors = [];

        public ILogger CreateLogger(string categoryName) => new CapturingLogger(this, categoryName);

        public List<string> Errors()
        {
            lock (_tail)
            {
                return [.. _errors];
            }
        }

        public string Tail()
        {
            lock (_tail)
            {
                return "\n  last Starling log lines:\n    " + string.Join("\n    ", _tail);
            }
        }

        public void Dispose()
        {
        }

        private void Add(LogLevel level, string category, string message, Exception? exception)
        {
            var line = $"{level} {category}: {message}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}";
            lock (_tail)
            {
                _tail.Enqueue(line);
                if (_tail.Count > TailSize)
                {
                    _tail.Dequeue();
                }

                if (level >= LogLevel.Error)
                {
                    _errors.Add(exception is null ? line : line + "\n" + exception);
                }
            }
        }

        private sealed class CapturingLogger(CapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => owner.Add(logLevel, category, formatter(state, exception), exception);
        }
    }
}
