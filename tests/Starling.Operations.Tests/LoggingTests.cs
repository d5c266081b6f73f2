using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Starling.Client;
using Starling.Operations.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Operations.Tests;

/// <summary>Structured logs: --log-format json, and connect/disconnect lines with client id, address and reason.</summary>
public sealed class LoggingTests
{
    [Fact]
    public async Task Json_log_format_writes_one_object_per_line_with_connect_and_disconnect_fields()
    {
        var exe = Path.Combine(AppContext.BaseDirectory, "starling-server.dll");
        var start = new ProcessStartInfo("dotnet", $"\"{exe}\" --memory --port 0 --log-format json")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        using var process = Process.Start(start)!;
        var lines = new List<JsonElement>();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            int? port = null;
            var clientId = Names.ClientId("log");
            await using var client = new MqttClient();
            while (true)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                Assert.NotNull(line);
                var entry = JsonDocument.Parse(line).RootElement.Clone(); // every line is one JSON object
                lines.Add(entry);
                var message = entry.GetProperty("Message").GetString() ?? "";
                if (port is null && Regex.Match(message, @"listening on 127\.0\.0\.1:(\d+)") is { Success: true } m)
                {
                    port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                    await client.ConnectAsync(new MqttClientOptions { Host = "127.0.0.1", Port = port.Value, ClientId = clientId }, timeout.Token);
                    await client.DisconnectAsync(cancellationToken: timeout.Token);
                }
                if (message.Contains(" disconnected", StringComparison.Ordinal) && message.Contains(clientId, StringComparison.Ordinal))
                {
                    var state = entry.GetProperty("State");
                    Assert.Equal(clientId, state.GetProperty("ClientId").GetString());
                    Assert.StartsWith("127.0.0.1:", state.GetProperty("Remote").GetString(), StringComparison.Ordinal);
                    Assert.False(string.IsNullOrEmpty(state.GetProperty("Cause").GetString()));
                    break;
                }
            }
            var connected = lines.Single(l => (l.GetProperty("Message").GetString() ?? "").StartsWith($"Client {clientId} connected from 127.0.0.1:", StringComparison.Ordinal));
            Assert.Equal("Information", connected.GetProperty("LogLevel").GetString());
            Assert.EndsWith("Z", connected.GetProperty("Timestamp").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
