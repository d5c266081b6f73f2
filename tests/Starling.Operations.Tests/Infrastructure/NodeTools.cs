using System.Diagnostics;
using System.Text;

namespace Starling.Operations.Tests.Infrastructure;

/// <summary>
/// Node.js for the interop and browser tests: MQTT.js and playwright-core are installed with npm into a folder under
/// the temp directory the first time (then reused); Chromium is the Debian package at /usr/bin/chromium. A missing
/// tool fails the test with what to install; it never skips.
/// </summary>
public static class NodeTools
{
    private const string Packages = "mqtt@5 playwright-core@1";
    private static readonly SemaphoreSlim s_installLock = new(1, 1);
    private static string? s_folder;

    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>The folder with node_modules/mqtt and node_modules/playwright-core, installed if needed.</summary>
    public static async Task<string> EnsureInstalledAsync()
    {
        await s_installLock.WaitAsync();
        try
        {
            if (s_folder is not null)
            {
                return s_folder;
            }
            var folder = Path.Combine(Path.GetTempPath(), "starling-ops-node");
            Directory.CreateDirectory(folder);
            Require("node", "install Node.js (Debian: apt-get install nodejs npm), as ./test.sh does");
            Require("npm", "install npm (Debian: apt-get install npm), as ./test.sh does");
            if (!File.Exists(Path.Combine(folder, "node_modules", "mqtt", "package.json"))
                || !File.Exists(Path.Combine(folder, "node_modules", "playwright-core", "package.json")))
            {
                if (!File.Exists(Path.Combine(folder, "package.json")))
                {
                    await File.WriteAllTextAsync(Path.Combine(folder, "package.json"), "{ \"name\": \"starling-ops-tests\", \"private\": true }\n");
                }
                var (code, output) = await RunAsync("npm", $"install --no-audit --no-fund --loglevel=error {Packages}", folder, TimeSpan.FromMinutes(5),
                    new Dictionary<string, string> { ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1" });
                Assert.True(code == 0, $"npm install {Packages} failed (exit {code}):\n{output}");
            }
            s_folder = folder;
            return folder;
        }
        finally
        {
            s_installLock.Release();
        }
    }

    /// <summary>Runs a script from the test's js/ folder with node (copied next to node_modules so imports resolve).</summary>
    public static async Task<string> RunScriptAsync(string script, IDictionary<string, string> environment, TimeSpan timeout)
    {
        var folder = await EnsureInstalledAsync();
        var source = Path.Combine(AppContext.BaseDirectory, "js", script);
        var target = Path.Combine(folder, script);
        File.Copy(source, target, overwrite: true);
        var (code, output) = await RunAsync("node", target, folder, timeout, environment);
        Assert.True(code == 0, $"node {script} failed (exit {code}):\n{output}");
        return output;
    }

    public static void RequireChromium()
        => Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: install the Debian package chromium (apt-get install chromium), as ./test.sh does");

    /// <summary>The repository's artifacts/screenshots folder (created).</summary>
    public static string ScreenshotFolder()
    {
        var root = Starling.Testing.RepositoryRoot.TryOf(typeof(NodeTools).Assembly) ?? Path.GetTempPath();
        var folder = Path.Combine(root, "artifacts", "screenshots");
        Directory.CreateDirectory(folder);
        return folder;
    }

    private static void Require(string tool, string hint)
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(p => p.Length > 0 && File.Exists(Path.Combine(p, tool)));
        Assert.True(found, $"'{tool}' is not on PATH: {hint}");
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string arguments, string workingDirectory, TimeSpan timeout,
        IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var output = new StringBuilder();
        var lockObj = new object();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (lockObj) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (lockObj) { output.AppendLine("[stderr] " + e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            lock (lockObj)
            {
                return (-1, $"timed out after {timeout.TotalSeconds} s\n{output}");
            }
        }
        process.WaitForExit();
        lock (lockObj)
        {
            return (process.ExitCode, output.ToString());
        }
    }
}
