using System.Reflection;
using System.Xml.Linq;
using Starling.Testing;

namespace Starling.Broker.Tests;

/// <summary>
/// The project dependency arrows of src/ (docs/architecture.md, Layout): Protocol &lt;- Broker &lt;- {Security,
/// Storage.Sqlite} &lt;- Server; Protocol &lt;- Client &lt;- Cli; Security.Passwords (the password-file hash format) under
/// Security and Cli. Every src/*/*.csproj is parsed; a ProjectReference, PackageReference or FrameworkReference outside
/// the project's allowed set, an SDK other than its allowed one, a project missing from the table below, or a
/// <c>&lt;Compile Include&gt;</c> that reaches outside the project's folder fails the build's tests. Changing an arrow is
/// a design decision: change the table here and the Layout section of docs/architecture.md together.
/// </summary>
public class ArchitectureTests
{
    private const string Sdk = "Microsoft.NET.Sdk";

    /// <summary>What each src project may reference directly. Package names ending in '*' are prefixes.</summary>
    private static readonly Dictionary<string, Layer> s_layers = new(StringComparer.Ordinal)
    {
        ["Starling.Protocol"] = new([], []),
        ["Starling.Broker"] = new(["Starling.Protocol"], ["Microsoft.Extensions.Logging.Abstractions"]),
        // BCL only: referenced by the CLI, which must not depend on the broker.
        ["Starling.Security.Passwords"] = new([], []),
        ["Starling.Security"] = new(["Starling.Broker", "Starling.Protocol", "Starling.Security.Passwords"], []),
        ["Starling.Storage.Sqlite"] = new(["Starling.Broker", "Starling.Protocol"], ["Microsoft.Data.Sqlite", "SQLitePCLRaw.*"]),
        ["Starling.Client"] = new(["Starling.Protocol"], []),
        ["Starling.Cli"] = new(["Starling.Client", "Starling.Protocol", "Starling.Security.Passwords"], ["System.CommandLine"]),
        // The composition root: every src project but the CLI, the web SDK (ASP.NET Core) and its hosting packages.
        ["Starling.Server"] = new(
            ["Starling.Protocol", "Starling.Broker", "Starling.Security", "Starling.Security.Passwords", "Starling.Storage.Sqlite", "Starling.Client"],
            ["Microsoft.AspNetCore.OpenApi", "Microsoft.OpenApi", "OpenTelemetry.Exporter.OpenTelemetryProtocol"],
            "Microsoft.NET.Sdk.Web"),
    };

    [Fact]
    public void Every_src_project_has_a_declared_layer()
    {
        var projects = SrcProjects().Select(p => Path.GetFileNameWithoutExtension(p)).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(projects);
        Assert.Equal(s_layers.Keys.Order(StringComparer.Ordinal), projects);
    }

    [Fact]
    public void Src_projects_reference_only_what_their_layer_allows()
    {
        var violations = SrcProjects().SelectMany(path => Violations(path, XDocument.Load(path))).ToList();
        Assert.True(violations.Count == 0, "Dependency arrows broken:\n" + string.Join('\n', violations));
    }

    [Fact]
    public void The_check_catches_forbidden_references_sdks_and_linked_sources()
    {
        // The checker itself, on a made-up Broker project file that breaks every rule once.
        var path = Path.Combine(RepoRoot(), "src", "Starling.Broker", "Starling.Broker.csproj");
        var bad = XDocument.Parse("""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <ItemGroup>
                <ProjectReference Include="../Starling.Protocol/Starling.Protocol.csproj" />
                <ProjectReference Include="../Starling.Server/Starling.Server.csproj" />
                <PackageReference Include="Microsoft.Extensions.Logging.Abstractions" />
                <PackageReference Include="Newtonsoft.Json" />
                <FrameworkReference Include="Microsoft.AspNetCore.App" />
                <Compile Include="Inside/Fine.cs" />
                <Compile Include="../Starling.Cli/PasswdCommand.cs" Link="PasswdCommand.cs" />
              </ItemGroup>
            </Project>
            """);
        var violations = Violations(path, bad);
        Assert.Equal(5, violations.Count);
        Assert.Contains(violations, v => v.Contains("Starling.Server", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("Newtonsoft.Json", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("Microsoft.AspNetCore.App", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("Microsoft.NET.Sdk.Web", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("PasswdCommand.cs", StringComparison.Ordinal));
    }

    private static List<string> Violations(string csprojPath, XDocument project)
    {
        var name = Path.GetFileNameWithoutExtension(csprojPath);
        var folder = Path.GetDirectoryName(Path.GetFullPath(csprojPath))!;
        var violations = new List<string>();
        if (!s_layers.TryGetValue(name, out var layer))
        {
            return [$"{name}: not in ArchitectureTests' layer table"];
        }
        var sdk = (string?)project.Root!.Attribute("Sdk") ?? "";
        if (sdk != layer.Sdk)
        {
            violations.Add($"{name}: uses SDK '{sdk}', allowed '{layer.Sdk}'");
        }
        foreach (var item in Items(project, "ProjectReference"))
        {
            var target = Path.GetFileNameWithoutExtension(item.Replace('\\', '/'));
            if (!layer.Projects.Contains(target))
            {
                violations.Add($"{name}: ProjectReference to {target} is not allowed (allowed: {Listed(layer.Projects)})");
            }
        }
        foreach (var package in Items(project, "PackageReference"))
        {
            if (!layer.Packages.Any(p => p.EndsWith('*') ? package.StartsWith(p[..^1], StringComparison.Ordinal) : package == p))
            {
                violations.Add($"{name}: PackageReference to {package} is not allowed (allowed: {Listed(layer.Packages)})");
            }
        }
        foreach (var framework in Items(project, "FrameworkReference"))
        {
            violations.Add($"{name}: FrameworkReference to {framework} is not allowed (the Server gets ASP.NET Core from its SDK)");
        }
        foreach (var source in Items(project, "Compile"))
        {
            var full = Path.GetFullPath(Path.Combine(folder, source.Replace('\\', '/')));
            if (!full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                violations.Add($"{name}: <Compile Include=\"{source}\"> is outside the project's folder (reference the project that owns it)");
            }
        }
        return violations;
    }

    private static string Listed(string[] names) => names.Length == 0 ? "none" : string.Join(", ", names);

    /// <summary>Include (or Update) values of every item of <paramref name="kind"/>, whatever its condition.</summary>
    private static IEnumerable<string> Items(XDocument project, string kind)
        => project.Descendants(kind).Select(e => (string?)e.Attribute("Include") ?? (string?)e.Attribute("Update") ?? "")
            .SelectMany(v => v.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static IEnumerable<string> SrcProjects()
        => Directory.EnumerateDirectories(Path.Combine(RepoRoot(), "src")).SelectMany(d => Directory.EnumerateFiles(d, "*.csproj"));

    private static string RepoRoot() => RepositoryRoot.Of(typeof(ArchitectureTests).Assembly);

    private sealed record Layer(string[] Projects, string[] Packages, string Sdk = Sdk);
}
