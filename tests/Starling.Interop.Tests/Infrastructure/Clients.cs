using System.Globalization;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>One application message as a third-party client printed it (<c>MSG|retain|qos|topic|payload</c>).</summary>
public sealed record ReceivedMessage(bool Retain, int Qos, string Topic, string Payload)
{
    /// <summary>The mosquitto_sub <c>-F</c> format that prints the same line the paho script prints.</summary>
    public const string MosquittoFormat = "MSG|%r|%q|%t|%p";

    private const string Prefix = "MSG|";

    public static bool IsMessage(string line) => line.StartsWith(Prefix, StringComparison.Ordinal);

    public static ReceivedMessage Parse(string line)
    {
        var parts = line.Split('|', 5);
        if (parts.Length != 5 || parts[0] != "MSG")
        {
            throw new FormatException("not a message line: " + line);
        }

        return new ReceivedMessage(
            parts[1] == "1",
            int.Parse(parts[2], CultureInfo.InvariantCulture),
            parts[3],
            parts[4]);
    }

    public override string ToString() => $"'{Topic}' '{Payload}' qos={Qos} retain={(Retain ? 1 : 0)}";
}

/// <summary>A running subscriber (mosquitto_sub or the paho script) whose messages the test reads one by one.</summary>
public sealed class Subscriber(ExternalProcess process) : IAsyncDisposable
{
    private readonly Queue<ReceivedMessage> _early = new();

    public ExternalProcess Process { get; } = process;

    /// <summary>The next application message; other lines (debug output) are skipped.</summary>
    public async Task<ReceivedMessage> ReadMessageAsync(TimeSpan? timeout = null)
        => _early.TryDequeue(out var early)
            ? early
            : ReceivedMessage.Parse(await Process.ReadLineUntilAsync(ReceivedMessage.IsMessage, timeout, "a message"));

    /// <summary>
    /// Reads lines until one satisfies <paramref name="predicate"/>, keeping the messages seen on the way for
    /// <see cref="ReadMessageAsync"/> (a resumed session gets its queued messages before the SUBACK).
    /// </summary>
    public Task<string> ReadLineUntilAsync(Func<string, bool> predicate, string what) =>
        Process.ReadLineUntilAsync(
            line =>
            {
                if (ReceivedMessage.IsMessage(line))
                {
                    _early.Enqueue(ReceivedMessage.Parse(line));
                    return false;
                }

                return predicate(line);
            },
            what: what);

    /// <summary>The next <paramref name="count"/> messages, all within <paramref name="timeout"/>.</summary>
    public async Task<List<ReceivedMessage>> ReadMessagesAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? ExternalProcess.DefaultLineTimeout);
        var messages = new List<ReceivedMessage>(count);
        while (messages.Count < count)
        {
            var left = deadline - DateTime.UtcNow;
            try
            {
                messages.Add(await ReadMessageAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1)));
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"received {messages.Count} of {count} messages in time; last: {messages.LastOrDefault()}", e);
            }
        }

        return messages;
    }

    /// <summary>Asserts that the process exits with status 0 (mosquitto_sub -C N does once it has N messages).</summary>
    public async Task AssertExitsCleanlyAsync(TimeSpan? timeout = null)
    {
        var code = await Process.WaitForExitAsync(timeout);
        Assert.True(code == 0, $"exit code {code}, expected 0.{Process.Diagnostics()}");
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>mosquitto_sub and mosquitto_pub from Debian's mosquitto-clients.</summary>
public static class MosquittoClients
{
    /// <summary>
    /// Starts mosquitto_sub with <c>-d</c> and returns once its SUBACK arrived (the "Subscribed (mid: 1): q" line),
    /// asserting that every filter was granted <paramref name="qos"/>.
    /// </summary>
    /// <param name="count">-C: exit after this many messages.</param>
    /// <param name="exitAfterSubscribe">-E: disconnect as soon as the subscription is acknowledged.</param>
    public static async Task<Subscriber> SubscribeAsync(
        TestBroker broker,
        string version,
        IEnumerable<string> filters,
        int qos = 0,
        int? count = null,
        string? clientId = null,
        bool cleanSession = true,
        bool exitAfterSubscribe = false)
    {
        // stdbuf -oL: mosquitto_sub flushes message lines itself, but not its -d debug lines (which carry the SUBACK).
        var args = new List<string>
        {
            "-oL", Tools.MosquittoSub,
            "-h", broker.Host, "-p", broker.PortText, "-V", version, "-q", qos.ToString(CultureInfo.InvariantCulture),
            "-d", "-F", ReceivedMessage.MosquittoFormat,
        };
        var filterCount = 0;
        foreach (var f in filters)
        {
            args.Add("-t");
            args.Add(f);
            filterCount++;
        }

        if (count is { } c)
        {
            args.Add("-C");
            args.Add(c.ToString(CultureInfo.InvariantCulture));
        }

        if (clientId is not null)
        {
            args.Add("-i");
            args.Add(clientId);
        }

        if (!cleanSession)
        {
            args.Add("-c");
        }

        if (exitAfterSubscribe)
        {
            args.Add("-E");
        }

        var process = ExternalProcess.Start(Tools.Stdbuf, args);
        var subscriber = new Subscriber(process);
        try
        {
            var line = await subscriber.ReadLineUntilAsync(l => l.StartsWith("Subscribed (mid:", StringComparison.Ordinal), "the SUBACK");
            var granted = line[(line.IndexOf("):", StringComparison.Ordinal) + 2)..]
                .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            Assert.True(granted.Length == filterCount && granted.All(g => g == qos.ToString(CultureInfo.InvariantCulture)),
                $"SUBACK granted [{string.Join(", ", granted)}], expected QoS {qos} for each of {filterCount} filters.{process.Diagnostics()}");
            return subscriber;
        }
        catch
        {
            await subscriber.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs mosquitto_pub once and asserts exit status 0. A null payload sends a zero-length message (-n).</summary>
    public static async Task PublishAsync(
        TestBroker broker,
        string version,
        string topic,
        string? payload,
        int qos = 0,
        bool retain = false)
    {
        var args = PublishArguments(broker, version, topic, qos, retain);
        if (payload is null)
        {
            args.Add("-n");
        }
        else
        {
            args.Add("-m");
            args.Add(payload);
        }

        await using var process = ExternalProcess.Start(Tools.MosquittoPub, args);
        var code = await process.WaitForExitAsync();
        Assert.True(code == 0, $"mosquitto_pub exit code {code}, expected 0.{process.Diagnostics()}");
    }

    /// <summary>Starts <c>mosquitto_pub -l</c>: every line written to its stdin becomes one message.</summary>
    public static ExternalProcess StartLinePublisher(TestBroker broker, string version, string topic, int qos, TimeSpan lifetime)
    {
        var args = PublishArguments(broker, version, topic, qos, retain: false);
        args.Add("-l");
        return ExternalProcess.Start(Tools.MosquittoPub, args, lifetime);
    }

    private static List<string> PublishArguments(TestBroker broker, string version, string topic, int qos, bool retain)
    {
        var args = new List<string>
        {
            "-h", broker.Host, "-p", broker.PortText, "-V", version, "-q", qos.ToString(CultureInfo.InvariantCulture), "-t", topic,
        };
        if (retain)
        {
            args.Add("-r");
        }

        return args;
    }
}

/// <summary>The paho-mqtt client script (Scripts/paho_client.py) run by Debian's /usr/bin/python3.</summary>
public static class Paho
{
    /// <summary>Starts a paho subscriber and returns once its SUBACK arrived, asserting the granted QoS.</summary>
    /// <param name="count">Exit after this many messages; 0 = run until stdin closes.</param>
    public static async Task<(Subscriber Subscriber, bool SessionPresent)> SubscribeAsync(
        TestBroker broker,
        string version,
        IEnumerable<string> filters,
        int qos = 0,
        int count = 0,
        string? clientId = null,
        bool cleanSession = true)
    {
        var args = Common(broker, version, "sub", clientId, cleanSession);
        var filterCount = 0;
        foreach (var f in filters)
        {
            args.Add("--topic");
            args.Add(f);
            filterCount++;
        }

        args.AddRange(["--qos", qos.ToString(CultureInfo.InvariantCulture), "--count", count.ToString(CultureInfo.InvariantCulture)]);
        var process = ExternalProcess.Start(Tools.Python, args);
        var subscriber = new Subscriber(process);
        try
        {
            var sessionPresent = await AwaitConnectedAsync(process);
            var line = await subscriber.ReadLineUntilAsync(l => l.StartsWith("SUBSCRIBED", StringComparison.Ordinal), "the SUBACK");
            var granted = line["SUBSCRIBED".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(granted.Length == filterCount && granted.All(g => g == qos.ToString(CultureInfo.InvariantCulture)),
                $"SUBACK granted [{string.Join(", ", granted)}], expected QoS {qos} for each of {filterCount} filters.{process.Diagnostics()}");
            return (subscriber, sessionPresent);
        }
        catch
        {
            await subscriber.DisposeAsync();
            throw;
        }
    }

    /// <summary>Publishes each payload in order, waits until every QoS flow completed, disconnects, asserts exit 0.</summary>
    public static async Task PublishAsync(TestBroker broker, string version, string topic, IEnumerable<string> payloads, int qos = 0, bool retain = false)
    {
        var args = Common(broker, version, "pub", null, true);
        args.AddRange(["--topic", topic, "--qos", qos.ToString(CultureInfo.InvariantCulture)]);
        if (retain)
        {
            args.Add("--retain");
        }

        foreach (var p in payloads)
        {
            args.Add("--message");
            args.Add(p);
        }

        await using var process = ExternalProcess.Start(Tools.Python, args);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"paho publisher exit code {code}, expected 0.{process.Diagnostics()}");
    }

    /// <summary>Connects a paho client with a will and returns it once connected; it then waits for commands.</summary>
    public static async Task<ExternalProcess> ConnectWithWillAsync(
        TestBroker broker,
        string version,
        string clientId,
        string willTopic,
        string willMessage,
        int willQos = 0,
        bool willRetain = false)
    {
        var args = Common(broker, version, "will", clientId, true);
        args.AddRange(["--will-topic", willTopic, "--will-message", willMessage, "--will-qos", willQos.ToString(CultureInfo.InvariantCulture)]);
        if (willRetain)
        {
            args.Add("--will-retain");
        }

        var process = ExternalProcess.Start(Tools.Python, args);
        try
        {
            await AwaitConnectedAsync(process);
            return process;
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static async Task<bool> AwaitConnectedAsync(ExternalProcess process)
    {
        var line = await process.ReadLineAsync();
        Assert.True(line.StartsWith("CONNECTED 0 ", StringComparison.Ordinal), $"expected CONNECTED, got '{line}'.{process.Diagnostics()}");
        return line.EndsWith(" 1", StringComparison.Ordinal);
    }

    private static List<string> Common(TestBroker broker, string version, string command, string? clientId, bool cleanSession)
    {
        var args = new List<string>
        {
            Tools.PahoScript, command, "--host", broker.Host, "--port", broker.PortText, "--version", version,
            "--clean", cleanSession ? "1" : "0",
        };
        if (clientId is not null)
        {
            args.Add("--id");
            args.Add(clientId);
        }

        return args;
    }
}
