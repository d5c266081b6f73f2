using System.Globalization;
using System.Text.Json;
using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests.V5;

/// <summary>One PUBLISH as Scripts/paho_v5.py printed it (<c>MSG5 {json}</c>).</summary>
public sealed class Message5(JsonElement json)
{
    public const string Prefix = "MSG5 ";

    public string Topic => json.GetProperty("topic").GetString()!;

    public string Payload => json.GetProperty("payload").GetString()!;

    public int Qos => json.GetProperty("qos").GetInt32();

    public string? ResponseTopic => Text("response_topic");

    public string? Correlation => Text("correlation");

    public string? ContentType => Text("content_type");

    public int? PayloadFormat => json.TryGetProperty("payload_format", out var v) ? v.GetInt32() : null;

    public int? Expiry => json.TryGetProperty("expiry", out var v) ? v.GetInt32() : null;

    public IReadOnlyList<int> SubscriptionIds => json.TryGetProperty("sub_ids", out var v) ? [.. v.EnumerateArray().Select(e => e.GetInt32())] : [];

    public IReadOnlyList<(string, string)> UserProperties => json.TryGetProperty("user", out var v)
        ? [.. v.EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!))]
        : [];

    public static Message5 Parse(string line) => new(JsonDocument.Parse(line[Prefix.Length..]).RootElement.Clone());

    public override string ToString() => json.ToString();

    private string? Text(string name) => json.TryGetProperty(name, out var v) ? v.GetString() : null;
}

/// <summary>Scripts/paho_v5.py: paho-mqtt's MQTT 5 client, run by Debian's /usr/bin/python3.</summary>
public static class PahoV5
{
    public static string Script
    {
        get
        {
            // Tools.PahoScript checks that paho-mqtt imports (and fails the test with the fix when it does not).
            var sibling = Path.GetDirectoryName(Tools.PahoScript)!;
            var script = Path.Combine(sibling, "paho_v5.py");
            return File.Exists(script) ? script : throw new FileNotFoundException("paho_v5.py is not in the test output", script);
        }
    }

    /// <summary>Starts the script and returns it with its CONNECTED line's session-present flag.</summary>
    public static async Task<(ExternalProcess Process, bool SessionPresent)> StartAsync(TestBroker broker, string command, params string[] arguments)
    {
        var args = new List<string> { Script, command, "--host", broker.Host, "--port", broker.PortText };
        args.AddRange(arguments);
        var process = ExternalProcess.Start(Tools.Python, args, TimeSpan.FromMinutes(2));
        try
        {
            var line = await process.ReadLineAsync();
            Assert.True(line.StartsWith("CONNECTED 0 ", StringComparison.Ordinal), $"expected CONNECTED, got '{line}'.{process.Diagnostics()}");
            return (process, line.Split(' ')[2] == "1");
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts a subscriber (sub or respond) and returns once its SUBACK arrived with the expected codes.</summary>
    public static async Task<(ExternalProcess Process, bool SessionPresent)> SubscribeAsync(TestBroker broker, string command, int qos, params string[] arguments)
    {
        var (process, present) = await StartAsync(broker, command, [.. arguments, "--qos", qos.ToString(CultureInfo.InvariantCulture)]);
        try
        {
            var line = await process.ReadLineUntilAsync(l => l.StartsWith("SUBSCRIBED", StringComparison.Ordinal), what: "the SUBACK");
            Assert.True(line.Split(' ').Skip(1).All(c => c == qos.ToString(CultureInfo.InvariantCulture)), $"SUBACK '{line}', expected QoS {qos}.{process.Diagnostics()}");
            return (process, present);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    public static async Task<Message5> ReadMessageAsync(ExternalProcess process, TimeSpan? timeout = null)
        => Message5.Parse(await process.ReadLineUntilAsync(l => l.StartsWith(Message5.Prefix, StringComparison.Ordinal), timeout, "a message"));

    /// <summary>Runs the script's pub command to completion and asserts exit status 0.</summary>
    public static async Task PublishAsync(TestBroker broker, params string[] arguments)
    {
        var args = new List<string> { Script, "pub", "--host", broker.Host, "--port", broker.PortText };
        args.AddRange(arguments);
        await using var process = ExternalProcess.Start(Tools.Python, args, TimeSpan.FromMinutes(1));
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"paho_v5 pub exit code {code}.{process.Diagnostics()}");
    }
}

/// <summary>mosquitto_sub / mosquitto_pub with <c>-V 5</c> and MQTT 5 properties.</summary>
public static class Mosquitto5
{
    /// <summary>The -F format: topic, payload, response topic, correlation data, content type, format, expiry, user properties.</summary>
    public const string Format = "V5|%t|%p|%R|%D|%C|%F|%E|%P";

    /// <summary>Starts mosquitto_sub -V 5 -d and returns once the SUBACK line was printed.</summary>
    public static async Task<ExternalProcess> SubscribeAsync(TestBroker broker, string topic, int qos = 1, params string[] extra)
    {
        var args = new List<string>
        {
            "-oL", Tools.MosquittoSub, "-h", broker.Host, "-p", broker.PortText, "-V", "5", "-q", qos.ToString(CultureInfo.InvariantCulture),
            "-d", "-F", Format, "-t", topic,
        };
        args.AddRange(extra);
        var process = ExternalProcess.Start(Tools.Stdbuf, args, TimeSpan.FromMinutes(2));
        try
        {
            await process.ReadLineUntilAsync(l => l.StartsWith("Subscribed (mid:", StringComparison.Ordinal), what: "the SUBACK");
            return process;
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>The next -F line, split into its eight fields.</summary>
    public static async Task<string[]> ReadAsync(ExternalProcess process, TimeSpan? timeout = null)
    {
        var line = await process.ReadLineUntilAsync(l => l.StartsWith("V5|", StringComparison.Ordinal), timeout, "a message");
        return line.Split('|', 9)[1..];
    }

    public static async Task PublishAsync(TestBroker broker, string topic, string payload, int qos = 1, params string[] extra)
    {
        var args = new List<string>
        {
            "-h", broker.Host, "-p", broker.PortText, "-V", "5", "-q", qos.ToString(CultureInfo.InvariantCulture), "-t", topic, "-m", payload,
        };
        args.AddRange(extra);
        await using var process = ExternalProcess.Start(Tools.MosquittoPub, args);
        var code = await process.WaitForExitAsync();
        Assert.True(code == 0, $"mosquitto_pub exit code {code}.{process.Diagnostics()}");
    }
}
