using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests.Cli;

/// <summary>
/// `starling pub` and `starling sub` against both brokers, side by side with mosquitto_pub/mosquitto_sub given the same
/// options: the same lines must come out.
/// </summary>
public sealed class StarlingCliTests
{
    public static TheoryData<string, string> BrokersAndCliVersions()
    {
        var data = new TheoryData<string, string>();
        foreach (var broker in TestBroker.Targets)
        {
            foreach (var version in new[] { "311", "5" })
            {
                data.Add(broker, version);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(BrokersAndCliVersions))]
    public Task Sub_prints_the_same_lines_as_mosquitto_sub_for_the_same_options(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var root = Matrix.Unique("cli");
        // A retained "ready" message tells each subscriber it is subscribed: it is the first line both print.
        await MosquittoClients.PublishAsync(broker, version, root + "/0-ready", "ready", qos: 1, retain: true);
        string[] options = ["-h", broker.Host, "-p", broker.PortText, "-V", version, "-t", root + "/#", "-q", "1", "-v", "-C", "3"];
        await using var ours = StarlingCli.Start(["sub", .. options]);
        await using var theirs = ExternalProcess.Start(Tools.Stdbuf, ["-oL", Tools.MosquittoSub, .. options], lifetime: TimeSpan.FromSeconds(60));
        Assert.Equal(root + "/0-ready ready", await ours.ReadLineAsync());
        Assert.Equal(root + "/0-ready ready", await theirs.ReadLineAsync());

        // One message sent by each publisher: both subscribers must print both, in order.
        await using (var pub = StarlingCli.Start("pub", "-h", broker.Host, "-p", broker.PortText, "-V", version, "-t", root + "/a", "-m", "from starling", "-q", "1"))
        {
            Assert.Equal(0, await pub.WaitForExitAsync());
        }
        await MosquittoClients.PublishAsync(broker, version, root + "/b", "from mosquitto_pub", qos: 2);

        string[] expected = [root + "/a from starling", root + "/b from mosquitto_pub"];
        string[] ourLines = [await ours.ReadLineAsync(), await ours.ReadLineAsync()];
        string[] theirLines = [await theirs.ReadLineAsync(), await theirs.ReadLineAsync()];
        Assert.Equal(expected, ourLines);
        Assert.Equal(expected, theirLines);
        Assert.Equal(0, await ours.WaitForExitAsync());
        Assert.Equal(0, await theirs.WaitForExitAsync());
    });

    [Theory]
    [MemberData(nameof(BrokersAndCliVersions))]
    public Task Pub_reads_stdin_lines_and_retains_like_mosquitto_pub(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("cli") + "/lines";
        await using var sub = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 1, count: 3);
        await using (var pub = StarlingCli.Start("pub", "-h", broker.Host, "-p", broker.PortText, "-V", version, "-t", topic, "-q", "1", "-l"))
        {
            foreach (var line in new[] { "one", "two", "three" })
            {
                await pub.WriteLineAsync(line);
            }
            pub.CloseStandardInput();
            Assert.Equal(0, await pub.WaitForExitAsync());
        }
        var got = await sub.ReadMessagesAsync(3);
        Assert.Equal(["one", "two", "three"], got.Select(m => m.Payload));
        Assert.All(got, m => Assert.Equal(1, m.Qos));

        // -r: a later subscriber gets it with the retain flag.
        await using (var pub = StarlingCli.Start("pub", "-h", broker.Host, "-p", broker.PortText, "-V", version, "-t", topic, "-m", "kept", "-r"))
        {
            Assert.Equal(0, await pub.WaitForExitAsync());
        }
        await using var later = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 0, count: 1);
        Assert.Equal(new ReceivedMessage(true, 0, topic, "kept"), await later.ReadMessageAsync());
    });

    [Fact]
    public async Task Refused_connection_names_the_reason_code()
    {
        await using var server = await Starling.Testing.TestServer.StartAsync(new Dictionary<string, string?> { ["Auth:AllowAnonymous"] = "false" });
        var port = server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var version in new[] { "311", "5" })
        {
            await using var pub = StarlingCli.Start("pub", "-h", "127.0.0.1", "-p", port, "-V", version, "-t", "x", "-m", "y");
            var error = await pub.ReadErrorLineUntilAsync(l => l.Contains("refused", StringComparison.OrdinalIgnoreCase), what: "a refusal message");
            // 3.1.1's return code 5 and v5's 0x87 are the same refusal; the CLI names it in v5 terms for both.
            Assert.Contains("not authori", error, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("0x87", error, StringComparison.Ordinal);
            Assert.NotEqual(0, await pub.WaitForExitAsync());
        }
    }
}
