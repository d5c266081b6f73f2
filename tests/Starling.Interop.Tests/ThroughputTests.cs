using System.Diagnostics;
using System.Globalization;
using System.Text;
using Starling.Interop.Tests.Infrastructure;

namespace Starling.Interop.Tests;

/// <summary>A smoke test of sustained traffic: 10,000 QoS 1 messages through mosquitto_pub -l, all received in order.</summary>
public sealed class ThroughputTests
{
    private const int Count = 10_000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);

    /// <remarks>
    /// Both brokers drop QoS 1 messages past 1000 queued per subscriber (their slow-consumer policy), and a pipe-fed
    /// mosquitto_sub can fall that far behind, so the queue limit is raised: this smoke test checks delivery, not that policy.
    /// </remarks>
    [Theory]
    [MemberData(nameof(Matrix.BrokersAndVersions), MemberType = typeof(Matrix))]
    public Task Ten_thousand_qos1_messages_arrive_complete_and_in_order(string target, string version) => BrokerCase.RunAsync(target, async broker =>
    {
        var topic = Matrix.Unique("bulk") + "/x";
        await using var sub = await MosquittoClients.SubscribeAsync(broker, version, [topic], qos: 1, count: Count);
        var clock = Stopwatch.StartNew();

        await using var pub = MosquittoClients.StartLinePublisher(broker, version, topic, qos: 1, Budget);
        var lines = new StringBuilder();
        for (var i = 1; i <= Count; i++)
        {
            lines.Append(i.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        // Write from another task: the reader side below must run at the same time or pipes could fill up.
        var writer = Task.Run(async () =>
        {
            await pub.StandardInput.WriteAsync(lines.ToString());
            pub.CloseStandardInput();
        });

        var expected = 1;
        while (expected <= Count)
        {
            var left = Budget - clock.Elapsed;
            var m = await sub.ReadMessageAsync(left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
            Assert.True(m.Payload == expected.ToString(CultureInfo.InvariantCulture),
                $"message {expected}: got '{m.Payload}' (messages must arrive complete and in order)");
            expected++;
        }

        await writer;
        Assert.Equal(0, await pub.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        await sub.AssertExitsCleanlyAsync();
    }, new BrokerSettings(MaxQueuedMessages: 2 * Count));
}
