using System.Diagnostics;
using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>
/// Issue 16, finding 21: <c>--help</c> says the data directory (default <c>./data</c>) is relative to the current
/// directory, and that is where it must be, whether the server is started as <c>starling-server</c> or with
/// <c>dotnet run --project src/Starling.Server</c> from the repository root (as the README says).
/// </summary>
public sealed class DataDirectoryTests
{
    [Fact]
    public async Task The_default_data_directory_is_created_in_the_current_directory_of_the_process()
    {
        var cwd = Directory.CreateTempSubdirectory("starling-cwd-").FullName;
        try
        {
            await using (var server = await ServerProcess.StartInAsync(cwd, openFileLimit: null))
            {
                var expected = Path.Combine(cwd, "data", "starling.db");
                Assert.True(File.Exists(expected), $"no {expected}; the server said:\n{server.Output}");
                Assert.Contains(expected, server.Output, StringComparison.Ordinal);
                // Nothing next to the server's binaries (its content root).
                Assert.False(File.Exists(Path.Combine(AppContext.BaseDirectory, "data", "starling.db")));
            }
        }
        finally
        {
            Directory.Delete(cwd, recursive: true);
        }
    }

    /// <summary>
    /// <c>dotnet run</c> starts the program in the project's RunWorkingDirectory. The Web SDK sets it to the project's
    /// folder unless EnableDefaultRunWorkingDirectory is false; before the fix <c>dotnet run --project
    /// src/Starling.Server</c> from the repository root therefore wrote its store to src/Starling.Server/data/.
    /// Evaluating the property (what <c>dotnet run</c> uses) is the check; running <c>dotnet run</c> itself would
    /// build the server into the repository's artifacts folder.
    /// </summary>
    [Fact]
    public async Task Dotnet_run_keeps_the_callers_working_directory()
    {
        var root = RepositoryRoot();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        foreach (var a in new[] { "msbuild", Path.Combine("src", "Starling.Server", "Starling.Server.csproj"), "-getProperty:RunWorkingDirectory", "-nologo" })
        {
            start.ArgumentList.Add(a);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, $"dotnet msbuild failed: {await output}{await errors}");
        // Empty: dotnet run starts the server in the directory it was called from.
        Assert.Equal("", (await output).Trim());
    }

    private static string RepositoryRoot() => Starling.Testing.RepositoryRoot.Of(typeof(DataDirectoryTests).Assembly);
}
