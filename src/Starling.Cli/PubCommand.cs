using System.CommandLine;
using System.Text;
using Starling.Client;
using Starling.Protocol;

namespace Starling.Cli;

/// <summary><c>starling pub</c>: publish one message, a file, or stdin, like mosquitto_pub.</summary>
internal static class PubCommand
{
    public static Command Create()
    {
        var connection = new ConnectionOptions();
        var topic = new Option<string>("--topic", "-t") { Description = "Topic to publish to.", Required = true, HelpName = "TOPIC" };
        var message = new Option<string?>("--message", "-m") { Description = "Message payload.", HelpName = "MESSAGE" };
        var file = new Option<FileInfo?>("--file", "-f") { Description = "Send the contents of a file as the message.", HelpName = "FILE" };
        var lines = new Option<bool>("--stdin-line", "-l") { Description = "Send each line read from stdin as a separate message." };
        var stdin = new Option<bool>("--stdin-file", "-s") { Description = "Send all of stdin as one message." };
        var nullMessage = new Option<bool>("--null-message", "-n") { Description = "Send a zero-length message." };
        var qos = new Option<int>("--qos", "-q") { Description = "QoS: 0, 1 or 2.", DefaultValueFactory = _ => 0, HelpName = "QOS" };
        var retain = new Option<bool>("--retain", "-r") { Description = "Retain the message." };
        var repeat = new Option<int>("--repeat") { Description = "Publish the message this many times.", DefaultValueFactory = _ => 1, HelpName = "COUNT" };
        var repeatDelay = new Option<double>("--repeat-delay") { Description = "Seconds between repeats.", DefaultValueFactory = _ => 0, HelpName = "SECONDS" };

        var command = new Command("pub", "Publish a message (like mosquitto_pub). Exit code 0 when every publish succeeded.");
        connection.AddTo(command);
        foreach (var option in new Option[] { topic, message, file, lines, stdin, nullMessage, qos, retain, repeat, repeatDelay })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            MqttClientOptions options;
            PropertyArguments properties;
            QualityOfService qosValue;
            byte[]? payload = null;
            var topicValue = parse.GetValue(topic)!;
            try
            {
                (options, properties) = connection.Read(parse, "pub");
                qosValue = ConnectionOptions.ParseQoS(parse.GetValue(qos), "-q");
                if (!TopicValidator.IsValidTopicName(topicValue))
                {
                    throw new FormatException($"-t: '{topicValue}' is not a valid topic name to publish to (no '+' or '#').");
                }
                var sources = new[] { parse.GetValue(message) is not null, parse.GetValue(file) is not null, parse.GetValue(lines), parse.GetValue(stdin), parse.GetValue(nullMessage) }
                    .Count(given => given);
                if (sources != 1)
                {
                    throw new FormatException("Give exactly one message source: -m MESSAGE, -f FILE, -l (stdin lines), -s (all of stdin) or -n (null message).");
                }
                if (parse.GetValue(message) is { } text)
                {
                    payload = Encoding.UTF8.GetBytes(text);
                }
                else if (parse.GetValue(file) is { } path)
                {
                    payload = await File.ReadAllBytesAsync(path.FullName, cancellationToken);
                }
                else if (parse.GetValue(stdin))
                {
                    using var buffer = new MemoryStream();
                    await Console.OpenStandardInput().CopyToAsync(buffer, cancellationToken);
                    payload = buffer.ToArray();
                }
                else if (parse.GetValue(nullMessage))
                {
                    payload = [];
                }
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 2;
            }

            await using var client = await ConnectionOptions.ConnectAsync(options, cancellationToken);
            if (client is null)
            {
                return 1;
            }
            var publishProperties = properties.For("publish");
            var failures = 0;
            async Task PublishOneAsync(byte[] body)
            {
                var reason = await client.PublishAsync(topicValue, body, qosValue, parse.GetValue(retain), publishProperties, cancellationToken);
                if (ReasonCodes.IsError(reason))
                {
                    failures++;
                    await Console.Error.WriteLineAsync($"Warning: publish to '{topicValue}' failed: {ReasonCodes.Format(reason)}");
                }
            }

            try
            {
                if (payload is not null)
                {
                    var count = Math.Max(1, parse.GetValue(repeat));
                    var delay = TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(repeatDelay)));
                    for (var i = 0; i < count; i++)
                    {
                        if (i > 0 && delay > TimeSpan.Zero)
                        {
                            await Task.Delay(delay, cancellationToken);
                        }
                        await PublishOneAsync(payload);
                    }
                }
                else
                {
                    using var reader = new StreamReader(Console.OpenStandardInput(), Encoding.UTF8);
                    while (await reader.ReadLineAsync(cancellationToken) is { } line)
                    {
                        await PublishOneAsync(Encoding.UTF8.GetBytes(line));
                    }
                }
                await client.DisconnectAsync(ReasonCode.Success, properties.For("disconnect"), CancellationToken.None);
            }
            catch (MqttClientException ex)
            {
                await Console.Error.WriteLineAsync($"Error: {ex.Message}");
                return 1;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return 130;
            }
            return failures == 0 ? 0 : 1;
        });
        return command;
    }
}
