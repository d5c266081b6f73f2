using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>
/// <c>starling bench pub|sub|conn</c>: load generator in the manner of emqtt-bench: many clients in one process,
/// a measured window after a warmup, latency from a timestamp in each payload, a text and a JSON summary.
/// </summary>
public static class BenchCommand
{
    /// <summary>The runtime switch that runs socket completions on the socket engine's thread (set by Program for bench runs unless given).</summary>
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static Command Create()
    {
        var command = new Command("bench", "Load-test a broker: many clients per process (pub, sub, conn). Run pub and sub in separate processes.");
        command.Subcommands.Add(CreateMode(BenchMode.Pub, "Publish from many clients at a fixed rate (-I) or as fast as possible (--max-rate)."));
        command.Subcommands.Add(CreateMode(BenchMode.Sub, "Subscribe with many clients, count deliveries and measure end-to-end latency."));
        command.Subcommands.Add(CreateMode(BenchMode.Conn, "Open many idle connections at a given rate and hold them (connect rate, broker RSS per connection)."));
        return command;
    }

    private static Command CreateMode(BenchMode mode, string description)
    {
        var host = new Option<string>("--host", "-h") { Description = "Broker host.", DefaultValueFactory = _ => "localhost", HelpName = "HOST" };
        var port = new Option<int>("--port", "-p") { Description = "Broker port.", DefaultValueFactory = _ => 1883, HelpName = "PORT" };
        var count = new Option<int>("--count", "-c") { Description = "Number of clients.", DefaultValueFactory = _ => 1, HelpName = "N" };
        var qos = new Option<int>("--qos", "-q") { Description = "QoS of publishes (pub) or subscriptions (sub): 0, 1 or 2.", DefaultValueFactory = _ => 0, HelpName = "QOS" };
        var topic = new Option<string>("--topic", "-t")
        {
            Description = "Topic (pub) or topic filter (sub); %i becomes the client index.",
            DefaultValueFactory = _ => "bench/%i",
            HelpName = "TOPIC",
        };
        var size = new Option<int>("--size", "-s") { Description = "Payload size in bytes (at least 8: a send timestamp).", DefaultValueFactory = _ => 64, HelpName = "BYTES" };
        var interval = new Option<double>("--interval", "-I") { Description = "Milliseconds between messages of one client (fixed rate).", DefaultValueFactory = _ => 1000, HelpName = "MS" };
        var maxRate = new Option<bool>("--max-rate") { Description = "Publish as fast as possible (QoS 1/2: --inflight messages unacknowledged per client)." };
        var inflight = new Option<int>("--inflight") { Description = "Unacknowledged QoS 1/2 publishes per client.", DefaultValueFactory = _ => 10, HelpName = "N" };
        var version = new Option<string>("--protocol-version", "-V") { Description = "MQTT version: 3 (3.1), 4 (3.1.1) or 5.", DefaultValueFactory = _ => "4", HelpName = "VERSION" };
        var keepAlive = new Option<int>("--keepalive", "-k") { Description = "Keep-alive in seconds, 0 for none.", DefaultValueFactory = _ => 60, HelpName = "SECONDS" };
        var warmup = new Option<double>("--warmup") { Description = "Seconds before the measured window (sub: counted from the first delivery).", HelpName = "SECONDS" };
        var duration = new Option<double?>("--duration")
        {
            Description = "Length of the measured window in seconds (conn: how long to hold). Default 10, or until --limit when that is given.",
            HelpName = "SECONDS",
        };
        var limit = new Option<long>("--limit", "-L") { Description = "pub: messages in all, split between the clients; sub: stop after this many deliveries.", HelpName = "N" };
        var timeout = new Option<double>("--timeout") { Description = "Hard bound on the whole run in seconds (default: derived from the others).", HelpName = "SECONDS" };
        var ifaddr = new Option<string?>("--ifaddr")
        {
            Description = "Local source addresses, spread over the connections: a list and/or ranges, e.g. 127.0.0.2-127.0.0.9 or 127.0.0.2-9.",
            HelpName = "ADDRESSES",
        };
        var rate = new Option<double?>("--rate") { Description = "New connections per second (default: unpaced, as fast as --concurrency allows).", HelpName = "N" };
        var concurrency = new Option<int>("--concurrency") { Description = "Connection attempts (TCP connect + CONNACK) outstanding at once.", DefaultValueFactory = _ => 64, HelpName = "N" };
        var firstIndex = new Option<int>("--first-index") { Description = "Index of the first client (%i in topics, client ids): lets several processes share one scenario.", HelpName = "N" };
        var batch = new Option<int>("--batch-us")
        {
            Description = "Sleep this many microseconds after a busy read so that reads and acks coalesce: less generator CPU, a little more latency (default 0).",
            HelpName = "MICROSECONDS",
        };
        var windowFile = new Option<string?>("--window-file") { Description = "sub: write \"FROM TO\" (Unix seconds) to this file when the measured window opens.", HelpName = "FILE" };
        var brokerPid = new Option<int?>("--broker-pid") { Description = "conn: read this process's RSS before and after (Linux /proc).", HelpName = "PID" };
        var username = new Option<string?>("--username", "-u") { Description = "User name.", HelpName = "USER" };
        var password = new Option<string?>("--pw", "-P") { Description = "Password.", HelpName = "PASSWORD" };
        var prefix = new Option<string?>("--prefix") { Description = "Client id prefix (the mode letter and the client index follow).", HelpName = "PREFIX" };
        var json = new Option<string?>("--json") { Description = "Write the summary as JSON to this file.", HelpName = "FILE" };
        var readyFile = new Option<string?>("--ready-file") { Description = "Create this file once every client is connected (and subscribed).", HelpName = "FILE" };

        var command = new Command(mode.ToString().ToLowerInvariant(), description);
        var options = new List<Option> { host, port, count };
        if (mode != BenchMode.Conn)
        {
            options.AddRange([qos, topic, size]);
        }
        if (mode == BenchMode.Pub)
        {
            options.AddRange([interval, maxRate, inflight]);
        }
        options.AddRange([version, keepAlive]);
        if (mode != BenchMode.Conn)
        {
            options.AddRange([warmup]);
        }
        options.AddRange([duration, limit, timeout, ifaddr, rate, concurrency, firstIndex]);
        if (mode != BenchMode.Conn)
        {
            options.Add(batch);
        }
        if (mode == BenchMode.Conn)
        {
            options.Add(brokerPid);
        }
        if (mode == BenchMode.Sub)
        {
            options.Add(windowFile);
        }
        options.AddRange([username, password, prefix, json, readyFile]);
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            BenchSettings settings;
            try
            {
                var p = parse.GetValue(port);
                var c = parse.GetValue(count);
                // Options a mode does not have read as their defaults.
                var q = mode == BenchMode.Conn ? 0 : parse.GetValue(qos);
                var s = mode == BenchMode.Conn ? 64 : parse.GetValue(size);
                var i = mode == BenchMode.Pub ? parse.GetValue(interval) : 1000;
                var n = mode == BenchMode.Pub ? parse.GetValue(inflight) : 10;
                var k = parse.GetValue(keepAlive);
                settings = new BenchSettings
                {
                    Mode = mode,
                    Host = parse.GetValue(host) ?? "localhost",
                    Port = p is >= 1 and <= 65535 ? p : throw new FormatException($"-p: port {p} is not between 1 and 65535."),
                    Clients = c is >= 1 ? c : throw new FormatException("-c: at least one client."),
                    QoS = q is >= 0 and <= 2 ? (QualityOfService)q : throw new FormatException("-q: QoS 0, 1 or 2."),
                    Topic = mode == BenchMode.Conn ? "bench/%i" : parse.GetValue(topic) ?? "bench/%i",
                    PayloadSize = s is >= 8 and <= 16 * 1024 * 1024
                        ? s : throw new FormatException("-s: payload size from 8 bytes (the timestamp) to 16 MiB."),
                    IntervalMs = i is > 0 ? i : throw new FormatException("-I: interval must be positive."),
                    MaxRate = parse.GetValue(maxRate),
                    Inflight = n is >= 1 and <= 60_000 ? n : throw new FormatException("--inflight: 1 to 60000."),
                    Version = ParseVersion(parse.GetValue(version) ?? "4"),
                    KeepAliveSeconds = k is >= 0 and <= 65535 ? k : throw new FormatException("-k: 0 to 65535 seconds."),
                    WarmupSeconds = Math.Max(0, parse.GetValue(warmup)),
                    DurationSeconds = parse.GetValue(duration) is { } d ? (d > 0 ? d : throw new FormatException("--duration must be positive.")) : null,
                    Limit = Math.Max(0, parse.GetValue(limit)),
                    TimeoutSeconds = Math.Max(0, parse.GetValue(timeout)),
                    SourceAddresses = ParseAddresses(parse.GetValue(ifaddr)),
                    ConnectRate = parse.GetValue(rate) is { } r ? (r >= 0 ? r : throw new FormatException("--rate: 0 (unpaced) or more.")) : 0,
                    FirstIndex = parse.GetValue(firstIndex) is var f and >= 0 ? f : throw new FormatException("--first-index: 0 or more."),
                    WindowFile = mode == BenchMode.Sub ? parse.GetValue(windowFile) : null,
                    BatchMicroseconds = mode == BenchMode.Conn ? 0 : parse.GetValue(batch) is var b and >= 0 and <= 100_000 ? b : throw new FormatException("--batch-us: 0 to 100000."),
                    ConnectConcurrency = Math.Max(1, parse.GetValue(concurrency)),
                    BrokerPid = parse.GetValue(brokerPid),
                    Username = parse.GetValue(username),
                    Password = parse.GetValue(password),
                    JsonPath = parse.GetValue(json),
                    ReadyFile = parse.GetValue(readyFile),
                };
                if (parse.GetValue(prefix) is { } idPrefix)
                {
                    settings.ClientIdPrefix = idPrefix;
                }
                var sample = settings.TopicFor(0);
                if (mode == BenchMode.Pub ? !TopicValidator.IsValidTopicName(sample) : !TopicValidator.IsValidTopicFilter(sample))
                {
                    throw new FormatException($"-t: '{sample}' is not a valid topic {(mode == BenchMode.Pub ? "name" : "filter")}.");
                }
            }
            catch (FormatException ex)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 2;
            }

            var progress = Console.IsOutputRedirected ? null : Console.Out;
            BenchResult result;
            try
            {
                result = await BenchRunner.RunAsync(settings, progress, cancellationToken);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 1;
            }
            await Console.Out.WriteAsync(result.ToText());
            if (settings.JsonPath is { } path)
            {
                await using var file = File.Create(path);
                result.WriteJson(file);
            }
            return result.Complete ? 0 : 1;
        });
        return command;
    }

    internal static ProtocolVersion ParseVersion(string text) => text.ToLowerInvariant() switch
    {
        "3" or "31" or "3.1" or "mqttv31" => ProtocolVersion.V310,
        "4" or "311" or "3.1.1" or "mqttv311" => ProtocolVersion.V311,
        "5" or "50" or "5.0" or "mqttv5" => ProtocolVersion.V500,
        _ => throw new FormatException($"-V: '{text}' is not 3, 4 or 5."),
    };

    /// <summary>Parses "A,B,C-D": addresses, and ranges whose end is a full address or the last octet.</summary>
    public static IReadOnlyList<IPAddress> ParseAddresses(string? text)
    {
        var result = new List<IPAddress>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return result;
        }
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                result.Add(IPAddress.TryParse(part, out var one) ? one : throw new FormatException($"--ifaddr: '{part}' is not an IP address."));
                continue;
            }
            if (!IPAddress.TryParse(part[..dash], out var first) || first.AddressFamily != AddressFamily.InterNetwork)
            {
                throw new FormatException($"--ifaddr: '{part}': a range needs IPv4 addresses.");
            }
            var end = part[(dash + 1)..];
            var bytes = first.GetAddressBytes();
            int lastOctet;
            if (IPAddress.TryParse(end, out var last) && last.AddressFamily == AddressFamily.InterNetwork && end.Contains('.', StringComparison.Ordinal))
            {
                var lastBytes = last.GetAddressBytes();
                if (!lastBytes.AsSpan(0, 3).SequenceEqual(bytes.AsSpan(0, 3)))
                {
                    throw new FormatException($"--ifaddr: '{part}': a range stays within one /24.");
                }
                lastOctet = lastBytes[3];
            }
            else if (!int.TryParse(end, NumberStyles.None, CultureInfo.InvariantCulture, out lastOctet) || lastOctet > 255)
            {
                throw new FormatException($"--ifaddr: '{part}' is not a range such as 127.0.0.2-127.0.0.9 or 127.0.0.2-9.");
            }
            for (int octet = bytes[3]; octet <= lastOctet; octet++)
            {
                bytes[3] = (byte)octet;
                result.Add(new IPAddress(bytes));
            }
        }
        return result;
    }
}
