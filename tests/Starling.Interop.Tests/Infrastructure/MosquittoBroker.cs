using System.Globalization;

namespace Starling.Interop.Tests.Infrastructure;

/// <summary>The reference broker: Debian's <c>mosquitto</c> as a child process on a free loopback port.</summary>
public sealed class MosquittoBroker : TestBroker
{
    private readonly ExternalProcess _process;
    private readonly string _directory;

    private MosquittoBroker(int port, ExternalProcess process, string directory)
        : base(Mosquitto, port)
    {
        _process = process;
        _directory = directory;
    }

    public static async Task<MosquittoBroker> StartAsync(BrokerSettings settings)
    {
        var binary = Tools.MosquittoBroker;
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var port = FreePort();
            var directory = Directory.CreateTempSubdirectory("starling-interop-mosquitto-").FullName;
            var config = Path.Combine(directory, "mosquitto.conf");
            await File.WriteAllTextAsync(config, string.Join('\n',
                $"listener {port.ToString(CultureInfo.InvariantCulture)} 127.0.0.1",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                settings.MaxQueuedMessages is { } q ? $"max_queued_messages {q.ToString(CultureInfo.InvariantCulture)}" : "",
                ""));

            // Mosquitto lives as long as the longest test may take; teardown kills it sooner.
            var process = ExternalProcess.Start(binary, ["-c", config], TimeSpan.FromMinutes(10), directory);
            try
            {
                var line = await process.ReadErrorLineUntilAsync(
                    l => l.Contains(" running", StringComparison.Ordinal) || l.Contains("Error", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(15),
                    "the 'running' line");
                if (line.Contains(" running", StringComparison.Ordinal))
                {
                    return new MosquittoBroker(port, process, directory);
                }

                last = new InvalidOperationException($"mosquitto did not start: {line}{process.Diagnostics()}");
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                last = e;
            }

            // Most likely the port was taken between FreePort() and the bind: try another one.
            await process.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }

        throw new InvalidOperationException("mosquitto could not be started", last);
    }

    public override string Diagnostics() => _process.Diagnostics();

    public override async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
