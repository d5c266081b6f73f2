using System.Diagnostics;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>
/// Finds the third-party tools the interop tests drive. A missing tool FAILS the test (it never skips): the Debian
/// packages are mosquitto-clients, mosquitto and python3-paho-mqtt, which <c>./test.sh</c> installs.
/// </summary>
public static class Tools
{
    /// <summary>The Debian interpreter: a pyenv python3 on PATH may lack paho, so the tests never use PATH for it.</summary>
    public const string Python = "/usr/bin/python3";

    private static readonly string[] ExtraDirectories = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"];
    private static readonly Lazy<string?> PahoProblem = new(CheckPaho);

    public static string MosquittoSub => Require("mosquitto_sub", "mosquitto-clients");

    public static string MosquittoPub => Require("mosquitto_pub", "mosquitto-clients");

    /// <summary>coreutils' stdbuf, to make a C program's stdout line-buffered on a pipe.</summary>
    public static string Stdbuf => Require("stdbuf", "coreutils");

    public static string MosquittoBroker => Require("mosquitto", "mosquitto");

    /// <summary>The paho client script next to the test assembly.</summary>
    public static string PahoScript
    {
        get
        {
            if (PahoProblem.Value is { } problem)
            {
                throw new InvalidOperationException(problem);
            }

            var script = Path.Combine(AppContext.BaseDirectory, "Scripts", "paho_client.py");
            return File.Exists(script) ? script : throw new FileNotFoundException("the paho client script is not in the test output", script);
        }
    }

    /// <summary>The full path of <paramref name="tool"/>, or an exception that fails the test.</summary>
    public static string Require(string tool, string debianPackage)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ExtraDirectories))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"'{tool}' is not installed: the interop tests need the Debian package '{debianPackage}' (./test.sh installs it).");
    }

    private static string? CheckPaho()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} is missing: the interop tests need Debian's python3 with the package 'python3-paho-mqtt' (./test.sh installs it).";
        }

        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import paho.mqtt; print(paho.mqtt.__version__)");
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000))
        {
            p.Kill();
            return $"{Python} -c 'import paho.mqtt' hung";
        }

        return p.ExitCode == 0
            ? null
            : $"{Python} cannot import paho.mqtt: install the Debian package 'python3-paho-mqtt' (./test.sh does). {output}{error}";
    }
}
