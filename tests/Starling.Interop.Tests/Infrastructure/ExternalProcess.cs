using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>
/// A child process whose stdout and stderr lines land in channels, so that a test can
/// <c>await ReadLineAsync(timeout)</c> instead of sleeping. The process is killed when its lifetime runs out and when
/// the object is disposed, whatever state it is in.
/// </summary>
public sealed class ExternalProcess : IAsyncDisposable
{
    /// <summary>The default time a line may take to arrive.</summary>
    public static readonly TimeSpan DefaultLineTimeout = TimeSpan.FromSeconds(15);

    private const int TailSize = 40;

    private readonly Process _process;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Channel<string> _stderr = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Queue<string> _stdoutTail = new();
    private readonly Queue<string> _stderrTail = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private readonly CancellationTokenSource _lifetime;
    private readonly CancellationTokenRegistration _lifetimeKill;
    private int _disposed;

    private ExternalProcess(Process process, string description, TimeSpan lifetime)
    {
        _process = process;
        Description = description;
        _stdoutPump = PumpAsync(process.StandardOutput, _stdout, _stdoutTail);
        _stderrPump = PumpAsync(process.StandardError, _stderr, _stderrTail);
        _lifetime = new CancellationTokenSource(lifetime);
        _lifetimeKill = _lifetime.Token.Register(() =>
        {
            LifetimeExpired = true;
            Kill();
        });
    }

    /// <summary>The command line, for messages.</summary>
    public string Description { get; }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process was killed because its lifetime ran out.</summary>
    public bool LifetimeExpired { get; private set; }

    /// <summary>The exit code; only valid once the process has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/> (no shell).</summary>
    /// <param name="lifetime">How long the process may live before it is killed (default one minute).</param>
    public static ExternalProcess Start(string fileName, IEnumerable<string> arguments, TimeSpan? lifetime = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        // Python must not buffer its output: the tests read it line by line.
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        var description = fileName + " " + string.Join(' ', psi.ArgumentList.Select(Quote));
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + description);
        return new ExternalProcess(process, description, lifetime ?? TimeSpan.FromMinutes(1));
    }

    /// <summary>Writes one line to the process's standard input.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Gives access to standard input, for bulk writes.</summary>
    public StreamWriter StandardInput => _process.StandardInput;

    /// <summary>Closes standard input (the process sees end of file).</summary>
    public void CloseStandardInput() => _process.StandardInput.Close();

    /// <summary>The next stdout line, or a <see cref="TimeoutException"/> that says what the process printed.</summary>
    public async Task<string> ReadLineAsync(TimeSpan? timeout = null)
    {
        var line = await TryReadLineAsync(timeout);
        return line ?? throw new InvalidOperationException(
            $"{Description} closed its output (exit code {ExitCodeText()}) while a line was awaited.{Diagnostics()}");
    }

    /// <summary>The next stdout line; null when the process closed stdout; throws on timeout.</summary>
    public Task<string?> TryReadLineAsync(TimeSpan? timeout = null) => ReadFromAsync(_stdout, "stdout", timeout);

    /// <summary>The next stderr line; null when the process closed stderr; throws on timeout.</summary>
    public Task<string?> TryReadErrorLineAsync(TimeSpan? timeout = null) => ReadFromAsync(_stderr, "stderr", timeout);

    /// <summary>Reads stdout lines until one satisfies <paramref name="predicate"/>; throws on timeout or end.</summary>
    public async Task<string> ReadLineUntilAsync(Func<string, bool> predicate, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultLineTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw Timeout("stdout", timeout ?? DefaultLineTimeout, what);
            }

            string? line;
            try
            {
                line = await TryReadLineAsync(left);
            }
            catch (TimeoutException)
            {
                throw Timeout("stdout", timeout ?? DefaultLineTimeout, what);
            }

            if (line is null)
            {
                throw new InvalidOperationException(
                    $"{Description} closed its output (exit code {ExitCodeText()}) before {what ?? "the awaited line"} arrived.{Diagnostics()}");
            }

            if (predicate(line))
            {
                return line;
            }
        }
    }

    /// <summary>Reads stderr lines until one satisfies <paramref name="predicate"/>; throws on timeout or end.</summary>
    public async Task<string> ReadErrorLineUntilAsync(Func<string, bool> predicate, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultLineTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw Timeout("stderr", timeout ?? DefaultLineTimeout, what);
            }

            var line = await TryReadErrorLineAsync(left)
                ?? throw new InvalidOperationException(
                    $"{Description} closed stderr (exit code {ExitCodeText()}) before {what ?? "the awaited line"} arrived.{Diagnostics()}");
            if (predicate(line))
            {
                return line;
            }
        }
    }

    /// <summary>Waits for the process to exit and returns its exit code; kills it and throws on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        var t = timeout ?? DefaultLineTimeout;
        using var cts = new CancellationTokenSource(t);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{Description} did not exit within {t.TotalSeconds:0.#} s.{Diagnostics()}");
        }

        // Let the pumps drain what the process wrote before it exited.
        await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5));
        return _process.ExitCode;
    }

    /// <summary>Kills the process (and its children) at once, as a crash would.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    /// <summary>What the process printed last, for assertion messages.</summary>
    public string Diagnostics()
    {
        string[] outTail;
        string[] errTail;
        lock (_stdoutTail)
        {
            outTail = [.. _stdoutTail];
        }

        lock (_stderrTail)
        {
            errTail = [.. _stderrTail];
        }

        var sb = new StringBuilder();
        sb.Append("\n  command: ").Append(Description);
        if (LifetimeExpired)
        {
            sb.Append("\n  (killed: its lifetime ran out)");
        }

        sb.Append("\n  last stdout lines:");
        foreach (var l in outTail)
        {
            sb.Append("\n    ").Append(l);
        }

        sb.Append("\n  last stderr lines:");
        foreach (var l in errTail)
        {
            sb.Append("\n    ").Append(l);
        }

        return sb.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Kill();
        await _lifetimeKill.DisposeAsync();
        _lifetime.Dispose();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // Nothing more can be done; the process is reported as killed.
        }

        _process.Dispose();
    }

    private async Task<string?> ReadFromAsync(Channel<string> channel, string stream, TimeSpan? timeout)
    {
        var t = timeout ?? DefaultLineTimeout;
        using var cts = new CancellationTokenSource(t);
        try
        {
            if (await channel.Reader.WaitToReadAsync(cts.Token) && channel.Reader.TryRead(out var line))
            {
                return line;
            }

            return null;
        }
        catch (OperationCanceledException)
        {
            throw Timeout(stream, t, null);
        }
    }

    private TimeoutException Timeout(string stream, TimeSpan t, string? what) =>
        new($"No {what ?? "line"} on {stream} of {Description} within {t.TotalSeconds:0.#} s.{Diagnostics()}");

    private string ExitCodeText()
    {
        try
        {
            return _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
        }
        catch (InvalidOperationException)
        {
            return "unknown";
        }
    }

    private static async Task PumpAsync(StreamReader reader, Channel<string> channel, Queue<string> tail)
    {
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                lock (tail)
                {
                    tail.Enqueue(line);
                    if (tail.Count > TailSize)
                    {
                        tail.Dequeue();
                    }
                }

                channel.Writer.TryWrite(line);
            }
        }
        catch (IOException)
        {
            // The pipe broke because the process was killed.
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            channel.Writer.TryComplete();
        }
    }

    private static string Quote(string a) => a.Length == 0 || a.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '#' or '*')
        ? "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"
        : a;
}
