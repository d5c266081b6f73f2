using System.Text.RegularExpressions;
using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>
/// The API key generated when none is configured is a credential: it never reaches the log, nor standard error when
/// that is captured (journald, Docker): then it goes to an owner-only file in the data directory.
/// </summary>
public sealed partial class ApiKeyLogTests
{
    [Fact]
    public async Task Generated_management_api_key_is_not_written_to_the_log()
    {
        // Management on without Management:ApiKeys (the harness's Management option would configure one). Before: the
        // warning "the API key of this run is <48 hex digits>" carried the key into every log sink.
        var data = Directory.CreateTempSubdirectory("starling-key-").FullName;
        try
        {
            await using var server = await TestServer.StartAsync(new Dictionary<string, string?>
            {
                ["Management:Port"] = "0",
                ["SysInterval"] = "0",
                ["Storage:DataDirectory"] = data,
            });
            var line = await server.Logs.WaitForAsync(TimeSpan.FromSeconds(5), "No Management:ApiKeys configured");
            Assert.NotNull(line);
            Assert.DoesNotContain(server.Logs.Messages, m => HexKey().IsMatch(m));
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task With_standard_error_captured_the_generated_key_goes_to_an_owner_only_file_and_only_its_path_is_printed()
    {
        // The child process's standard error is a pipe, as under systemd or Docker. Before: the key was printed there,
        // into logs that other users can read.
        var data = Path.Combine(Directory.CreateTempSubdirectory("starling-key-").FullName, "data");
        try
        {
            await using var server = await ServerProcess.StartInAsync(Path.GetDirectoryName(data)!, null, "--data-dir", data, "--management-port", "0");
            Match? listening = null;
            await Eventually.TrueAsync(() => (listening = ManagementLine().Match(server.Output)).Success, "the management port is logged");
            var path = Path.Combine(data, "management-api-key");
            await Eventually.TrueAsync(() => server.Output.Contains(path, StringComparison.Ordinal), "the key file's path is printed");

            Assert.True(File.Exists(path), server.Output);
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
            var key = File.ReadAllText(path).Trim();
            Assert.Matches(HexKey(), key);
            Assert.DoesNotContain(key, server.Output, StringComparison.Ordinal);

            using var http = new HttpClient { BaseAddress = new Uri(listening!.Groups[1].Value) };
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("api/stats", UriKind.Relative))).StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("api/stats", UriKind.Relative));
            request.Headers.Add("X-API-Key", key);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(data)!, recursive: true);
        }
    }

    [GeneratedRegex("[0-9a-f]{48}")]
    private static partial Regex HexKey();

    [GeneratedRegex(@"Management API.*? on (http://[^/\s]+/)")]
    private static partial Regex ManagementLine();
}
