using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Starling.Security.Tests.Infrastructure;

/// <summary>Runs external tools (mosquitto, mosquitto_passwd, python3) with a time limit.</summary>
public static class Tool
{
    public static string Require(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Append("/usr/bin").Append("/usr/sbin"))
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new InvalidOperationException($"'{name}' is not installed: apt-get install mosquitto mosquitto-clients python3-paho-mqtt");
    }

    /// <summary>Runs to completion; returns exit code, stdout and stderr.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return (process.ExitCode, await output, await error);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The reference broker: Debian's mosquitto as a child process with the given extra configuration lines.</summary>
public sealed class MosquittoProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _config;

    private MosquittoProcess(Process process, int port, string config)
    {
        _process = process;
        Port = port;
        _config = config;
    }

    public int Port { get; }
    public IPEndPoint Endpoint => new(IPAddress.Loopback, Port);

    public static async Task<MosquittoProcess> StartAsync(string directory, params string[] lines)
    {
        var binary = Tool.Require("mosquitto");
        for (var attempt = 0; ; attempt++)
        {
            var port = Tool.FreePort();
            var config = Path.Combine(directory, $"mosquitto-{port}.conf");
            await File.WriteAllLinesAsync(config, [$"listener {port} 127.0.0.1", "persistence false", "log_dest stderr", "log_type all", .. lines]);
            var psi = new ProcessStartInfo(binary) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(config);
            var process = Process.Start(psi)!;
            process.OutputDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            var started = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    started.TrySetResult(false);
                }
                else if (e.Data.Contains(" running", StringComparison.Ordinal))
                {
                    started.TrySetResult(true);
                }
            };
            process.BeginErrorReadLine();
            var ok = await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
            if (ok)
            {
                return new MosquittoProcess(process, port, config);
            }
            process.Kill();
            process.Dispose();
            if (attempt >= 3)
            {
                throw new InvalidOperationException("mosquitto did not start with " + config);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        File.Delete(_config);
    }
}

/// <summary>A temporary directory removed at the end of the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("starling-security-").FullName;
        // Mosquitto started as root reads its files as user 'mosquitto'.
        if (!OperatingSystem.IsWindows())
        {
            System.IO.File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101);
        }
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
