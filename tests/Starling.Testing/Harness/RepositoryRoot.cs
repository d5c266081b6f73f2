using System.Reflection;

namespace Starling.Testing;

/// <summary>
/// The folder holding Starling.slnx, for tests that read the repository's own files (sources, scripts, docs). Each
/// test project records it at build time as the assembly metadata "RepositoryRoot" (the build may write its output
/// elsewhere with --artifacts-path); without it, the folders above the test assembly are searched.
/// </summary>
public static class RepositoryRoot
{
    /// <summary>The repository root for the test assembly <paramref name="testAssembly"/>; throws when none is found.</summary>
    public static string Of(Assembly testAssembly)
        => TryOf(testAssembly) ?? throw new InvalidOperationException("Starling.slnx not found above " + AppContext.BaseDirectory);

    /// <summary>The repository root for <paramref name="testAssembly"/>, or null when there is none.</summary>
    public static string? TryOf(Assembly testAssembly)
    {
        var recorded = testAssembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "Starling.slnx")))
        {
            return recorded;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Starling.slnx")))
            {
                return dir.FullName;
            }
        }
        return null;
    }
}
