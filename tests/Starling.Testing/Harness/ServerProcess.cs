using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Starling.Testing;

/// <summary>
/// starling-server as a child process (<c>dotnet starling-server.dll --port 0 --data-dir DIR</c>), so a test can kill it
/// with SIGKILL or start it under a small open-file limit. The dll is the one the build copied next to this test
/// assembly (the test project references Starling.Server: the toolkit's reference alone does not copy its runtimeconfig).
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServerProcess(Process process) => _process = process;

    public IPEndPoint Endpoint { get; private set; } = new(IPAddress.Loopback, 0);

    public string Output { get { lock (_output) { return _output.ToString(); } } }

    public bool HasExited => _process.HasExited;

    /// <summary>The server's process id (to read /proc/PID: its mappings, its memory).</summary>
    public int ProcessId => _process.Id;

    public static string ServerDll
    {
        get
        {
            var path = Path.Combine(AppContext.BaseDirectory, "starling-server.dll");
            if (!File.Exists(path))
            {
                throw new FileNotFoundException($"starling-server.dll is not next to the tests ({AppContext.BaseDirectory}); build the solution first.", path);
            }
            return path;
        }
    }

    public static Task<ServerProcess> StartAsync(string dataDirectory, params string[] extraArgs)
        => StartAsync(dataDirectory, openFileLimit: null, extraArgs);

    /// <summary>With <paramref name="openFileLimit"/>: run under that RLIMIT_NOFILE (soft and hard), through prlimit.</summary>
    public static Task<ServerProcess> StartAsync(string dataDirectory, int? openFileLimit, params string[] extraArgs)
        => StartInAsync(dataDirectory, openFileLimit, ["--data-dir", dataDirectory, .. extraArgs]);

    /// <summary>
    /// Runs the server with <paramref name="workingDirectory"/> as its current directory and no <c>--data-dir</c> unless
    /// <paramref name="args"/> has one (so the default data directory applies).
    /// </summary>
    public static async Task<ServerProcess> StartInAsync(string workingDirectory, int? openFileLimit, params string[] args)
    {
        var info = new ProcessStartInfo(openFileLimit is null ? "dotnet" : "prlimit")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (openFileLimit is { } n)
        {
            info.ArgumentList.Add($"--nofile={n}:{n}");
            info.ArgumentList.Add("dotnet");
        }
        foreach (var a in new[] { ServerDll, "--port", "0", "--bind", "127.0.0.1" }.Concat(args))
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["DOTNET_gcServer"] = "0";
        // The per-session queue limit drops messages past it by policy (counted): crash tests must only see crash losses.
        info.Environment["STARLING_Limits__MaxQueuedMessages"] = "1000000";
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new ServerProcess(process);
        var listening = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (server._output)
            {
                server._output.AppendLine(line);
            }
            if (ListeningLine().Match(line) is { Success: true } m)
            {
                listening.TrySetResult(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException("starling-server exited:\n" + server.Output));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var port = await listening.Task.WaitAsync(TimeSpan.FromSeconds(20));
        server.Endpoint = new IPEndPoint(IPAddress.Loopback, port);
        return server;
    }

    /// <summary>SIGKILL: no shutdown code runs in the broker.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"listening on .*?:(\d+) \(")]
    private static partial Regex ListeningLine();
}
