using System.Text.RegularExpressions;
using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>The API key generated when none is configured is a credential: it never reaches the log.</summary>
public sealed partial class ApiKeyLogTests
{
    [Fact]
    public async Task Generated_management_api_key_is_not_written_to_the_log()
    {
        // Management on without Management:ApiKeys (the harness's Management option would configure one). Before: the
        // warning "the API key of this run is <48 hex digits>" carried the key into every log sink.
        await using var server = await TestServer.StartAsync(new Dictionary<string, string?> { ["Management:Port"] = "0", ["SysInterval"] = "0" });
        var line = await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "No Management:ApiKeys configured");
        Assert.NotNull(line);
        Assert.DoesNotContain(server.Logs.Messages, m => HexKey().IsMatch(m));
    }

    [GeneratedRegex("[0-9a-f]{48}")]
    private static partial Regex HexKey();
}
