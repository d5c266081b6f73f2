using System.Buffers;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Starling.Client;
using Starling.Protocol;

namespace Starling.Cli;

/// <summary><c>starling sub</c>: subscribe and print messages, like mosquitto_sub.</summary>
internal static class SubCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var topics = new Option<string[]>("--topic", "-t") { Description = "Topic filter to subscribe to (repeat for several).", Required = true, HelpName = "TOPIC" };
        var qos = new Option<int>("--qos", "-q") { Description = "QoS of the subscriptions: 0, 1 or 2.", DefaultValueFactory = _ => 0, HelpName = "QOS" };
        var count = new Option<int>("--count", "-C") { Description = "Exit after this many messages.", DefaultValueFactory = _ => 0, HelpName = "COUNT" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Print \"topic payload\" instead of the payload alone." };
        var noNewline = new Option<bool>("--no-newline", "-N") { Description = "Do not print a newline after each payload." };
        var noRetained = new Option<bool>("--no-retained", "-R") { Description = "Do not print retained (stale) messages." };
        var json = new Option<bool>("--json") { Description = "Print each message as one line of JSON (time, topic, qos, retain, payload, v5 properties)." };
        var timeout = new Option<double>("--timeout", "-W") { Description = "Exit after this many seconds (exit code 27 when it expires, as mosquitto_sub).", HelpName = "SECONDS" };

        var command = new Command("sub", "Subscribe and print messages (like mosquitto_sub). Ctrl+C disconnects and exits 0.");
        connection.AddTo(command);
        foreach (var option in new Option[] { topics, qos, count, verbose, noNewline, noRetained, json, timeout })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            MqttClientOptions options;
            PropertyArguments properties;
            QualityOfService qosValue;
            var filters = parse.GetValue(topics) ?? [];
            try
            {
                (options, properties) = connection.Read(parse, "sub");
                qosValue = ConnectionOptions.ParseQoS(parse.GetValue(qos), "-q");
                foreach (var filter in filters)
                {
                    if (!TopicValidator.IsValidTopicFilter(filter))
                    {
                        throw new FormatException($"-t: '{filter}' is not a valid topic filter ('#' only last and alone in its level, '+' alone in its level).");
                    }
                }
            }
            catch (FormatException ex)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 2;
            }

            await using var client = await ConnectionOptions.ConnectAsync(options, cancellationToken);
            if (client is null)
            {
                return 1;
            }

            using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (parse.GetValue(timeout) is > 0 and var seconds)
            {
                timeoutSource.CancelAfter(TimeSpan.FromSeconds(seconds));
            }
            var stop = timeoutSource.Token;
            try
            {
                var subAck = await client.SubscribeAsync(filters.Select(f => new TopicSubscription(f, new SubscriptionOptions(qosValue))),
                    properties.For("subscribe"), stop);
                var denied = 0;
                for (var i = 0; i < subAck.ReasonCodes.Length && i < filters.Length; i++)
                {
                    if (ReasonCodes.IsError(subAck.ReasonCodes[i]))
                    {
                        denied++;
                        await Console.Error.WriteLineAsync($"Subscription to '{filters[i]}' refused: {ReasonCodes.Format(subAck.ReasonCodes[i])}");
                    }
                }
                if (denied == filters.Length)
                {
                    await Console.Error.WriteLineAsync("All subscription requests were denied.");
                    await client.DisconnectAsync(ReasonCode.Success, null, CancellationToken.None);
                    return 1;
                }

                var limit = parse.GetValue(count);
                var printed = 0;
                using var stdout = new BufferedStream(Console.OpenStandardOutput(), 64 * 1024);
                var format = new OutputFormat(parse.GetValue(verbose), parse.GetValue(noNewline), parse.GetValue(json));
                await foreach (var received in client.Messages.ReadAllAsync(stop))
                {
                    if (received.Retain && parse.GetValue(noRetained))
                    {
                        continue;
                    }
                    format.Write(stdout, received);
                    await stdout.FlushAsync(CancellationToken.None);
                    if (limit > 0 && ++printed >= limit)
                    {
                        await client.DisconnectAsync(ReasonCode.Success, properties.For("disconnect"), CancellationToken.None);
                        return 0;
                    }
                }
                var info = await client.Disconnected;
                await Console.Error.WriteLineAsync($"Disconnected: {info.Description}");
                return 1;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                await client.DisconnectAsync(ReasonCode.Success, properties.For("disconnect"), CancellationToken.None);
                return cancellationToken.IsCancellationRequested ? 0 : 27;
            }
            catch (MqttClientException ex)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 1;
            }
        });
        return command;
    }

    private sealed class OutputFormat(bool verbose, bool noNewline, bool json)
    {
        private readonly ArrayBufferWriter<byte> _json = new();

        public void Write(Stream output, ReceivedMessage message)
        {
            if (json)
            {
                WriteJson(message);
                output.Write(_json.WrittenSpan);
                output.WriteByte((byte)'\n');
                return;
            }
            if (verbose)
            {
                output.Write(Encoding.UTF8.GetBytes(message.Topic));
                output.WriteByte((byte)' ');
            }
            output.Write(message.Payload);
            if (!noNewline)
            {
                output.WriteByte((byte)'\n');
            }
        }

        private void WriteJson(ReceivedMessage message)
        {
            _json.Clear();
            using var w = new Utf8JsonWriter(_json);
            w.WriteStartObject();
            w.WriteString("tst", DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
            w.WriteString("topic", message.Topic);
            w.WriteNumber("qos", (int)message.QoS);
            w.WriteBoolean("retain", message.Retain);
            w.WriteBoolean("dup", message.Dup);
            w.WriteNumber("payloadlen", message.Payload.Length);
            if (IsUtf8(message.Payload))
            {
                w.WriteString("payload", Encoding.UTF8.GetString(message.Payload));
            }
            else
            {
                w.WriteBase64String("payload_base64", message.Payload);
            }
            if (message.Properties is { } p)
            {
                w.WriteStartObject("properties");
                if (p.PayloadFormatIndicator is { } pfi) { w.WriteNumber("payload-format-indicator", pfi); }
                if (p.MessageExpiryInterval is { } mei) { w.WriteNumber("message-expiry-interval", mei); }
                if (p.ContentType is { } ct) { w.WriteString("content-type", ct); }
                if (p.ResponseTopic is { } rt) { w.WriteString("response-topic", rt); }
                if (p.CorrelationData is { } cd) { w.WriteBase64String("correlation-data", cd); }
                if (p.SubscriptionIdentifiers is { Count: > 0 } ids)
                {
                    w.WriteStartArray("subscription-identifier");
                    foreach (var id in ids)
                    {
                        w.WriteNumberValue(id);
                    }
                    w.WriteEndArray();
                }
                if (p.UserProperties is { Count: > 0 } users)
                {
                    w.WriteStartArray("user-property");
                    foreach (var user in users)
                    {
                        w.WriteStartObject();
                        w.WriteString(user.Name, user.Value);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }

        private static bool IsUtf8(byte[] payload) => System.Text.Unicode.Utf8.IsValid(payload);
    }
}
