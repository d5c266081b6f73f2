using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Starling.Testing;

/// <summary>
/// Keeps the server's log lines (Information and above) in memory instead of the console, so tests can check them
/// and a test server can check at teardown that nothing was logged at error level.
/// </summary>
/// <param name="minimum">The lowest level kept (Information by default).</param>
public sealed class CapturingLoggerProvider(LogLevel minimum = LogLevel.Information) : ILoggerProvider
{
    private readonly LogLevel _minimum = minimum;
    private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _entries = new();
    // Completed (and replaced) whenever an entry is added: what WaitForAsync awaits.
    private TaskCompletionSource _added = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every entry at error level or above, as "Level Category: message exception".</summary>
    public IReadOnlyCollection<string> Errors => [.. _entries.Where(e => e.Level >= LogLevel.Error).Select(e => $"{e.Level} {e.Category}: {e.Message}")];

    /// <summary>Every captured message (with its exception, if any), in order.</summary>
    public IReadOnlyList<string> Messages => [.. _entries.Select(e => e.Message)];

    /// <summary>Every captured entry as "Level Category: message".</summary>
    public IReadOnlyList<string> Lines => [.. _entries.Select(e => $"{e.Level} {e.Category}: {e.Message}")];

    /// <summary>The last <paramref name="count"/> lines, one per line, for a failure message.</summary>
    public string Tail(int count = 60) => string.Join("\n", Lines.TakeLast(count));

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, this);

    /// <summary>Waits until a line contains all the given parts (ignoring case); returns it, or null after the timeout.</summary>
    public async Task<string?> WaitForAsync(TimeSpan timeout, params string[] parts)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            // Take the signal before looking, so a line added in between still wakes the wait below.
            var added = Volatile.Read(ref _added).Task;
            var line = Lines.FirstOrDefault(t => parts.All(p => t.Contains(p, StringComparison.OrdinalIgnoreCase)));
            var left = timeout - clock.Elapsed;
            if (line is not null || left <= TimeSpan.Zero)
            {
                return line;
            }
            await Task.WhenAny(added, Task.Delay(left));
        }
    }

    private void Add(LogLevel level, string category, string message)
    {
        _entries.Enqueue((level, category, message));
        Interlocked.Exchange(ref _added, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Add(logLevel, category, formatter(state, exception) + (exception is null ? "" : " " + exception));
            }
        }
    }
}
