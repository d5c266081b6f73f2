using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>
/// Issue 17 ("RSS of a broker that has just started"): a server whose listeners are all Starling's own TCP transport
/// (the default) is a plain generic host and never loads ASP.NET Core, Kestrel, MVC, OpenAPI or OpenTelemetry: each
/// mapped assembly costs resident memory (about 10 MB in all, docs/performance.md "Startup memory"). Read from the
/// real process's /proc/PID/maps, since the test process itself has loaded all of them.
/// </summary>
public sealed class StartupFootprintTests
{
    private static readonly string[] s_notLoaded = ["Microsoft.AspNetCore.", "Microsoft.OpenApi.", "OpenTelemetry."];

    [Fact]
    public async Task A_server_with_only_plain_TCP_listeners_maps_no_ASP_NET_Core_OpenApi_or_OpenTelemetry_assembly()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // /proc/PID/maps
        }
        var dir = Directory.CreateTempSubdirectory("starling-footprint-").FullName;
        try
        {
            await using var server = await ServerProcess.StartAsync(dir);
            // Once it listens the start-up is over; $SYS and the first heartbeat run on timers, read the maps after one.
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(server.Endpoint);
            var loaded = MappedAssemblies(server.ProcessId);
            Assert.Contains("Starling.Broker.dll", loaded);
            var unwanted = loaded.Where(a => s_notLoaded.Any(p => a.StartsWith(p, StringComparison.Ordinal))).ToList();
            Assert.True(unwanted.Count == 0, "loaded without an HTTP or Kestrel listener: " + string.Join(", ", unwanted));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_server_with_the_management_port_still_loads_Kestrel()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var dir = Directory.CreateTempSubdirectory("starling-footprint-").FullName;
        try
        {
            await using var server = await ServerProcess.StartAsync(dir, "--management-port", "0");
            Assert.Contains("Microsoft.AspNetCore.Server.Kestrel.Core.dll", MappedAssemblies(server.ProcessId));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static HashSet<string> MappedAssemblies(int pid)
        => [.. File.ReadLines($"/proc/{pid}/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6 && fields[^1].EndsWith(".dll", StringComparison.Ordinal))
            .Select(fields => Path.GetFileName(fields[^1]))];
}
