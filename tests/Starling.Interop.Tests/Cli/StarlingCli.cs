using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests.Cli;

/// <summary>Runs the built `starling` command (src/Starling.Cli) as a child process.</summary>
internal static class StarlingCli
{
    /// <summary>
    /// starling.dll of the same build: with the artifacts layout the test runs from bin/Starling.Interop.Tests/{config}/
    /// and the CLI is in bin/Starling.Cli/{config}/.
    /// </summary>
    public static string Dll
    {
        get
        {
            var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var path = Path.Combine(here.Parent!.Parent!.FullName, "Starling.Cli", here.Name, "starling.dll");
            Assert.True(File.Exists(path), $"the starling CLI was not built at {path}: build Starling.slnx first");
            return path;
        }
    }

    public static ExternalProcess Start(params string[] arguments)
        => ExternalProcess.Start("dotnet", [Dll, .. arguments], lifetime: TimeSpan.FromSeconds(60));
}
