using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Starling.Protocol;

namespace Starling.Benchmarks;

/// <summary>
/// The allocation-budget gate of ./test.sh (<c>Starling.Benchmarks --allocation-gate bench/allocation-budget.json</c>):
/// runs <see cref="BrokerPipelineBenchmarks"/> without BenchmarkDotNet for each case of the budget file and fails when
/// a published message allocates more than its budget. It measures bytes, not time, so load on the machine does not
/// change the verdict.
/// </summary>
/// <remarks>
/// Per case: setup, a warm-up long enough for tiered compilation to settle (at least <see cref="WarmupBatches"/>
/// batches and <see cref="WarmupTime"/>), then <see cref="Rounds"/> rounds of <see cref="BatchesPerRound"/> batches of
/// 100 messages, each counted with <see cref="GC.GetTotalAllocatedBytes(bool)"/> (precise: every thread of the
/// process). The verdict uses the round that allocated least: an allocation on the publish path shows in every round
/// (at least 24 B per message or per batch, i.e. 4,800 B or more per round), while one-off allocations elsewhere in
/// the process (a thread-pool thread starting, a method recompiled) land in some rounds only. A round may exceed
/// the budget by <see cref="SlackBytesPerRound"/> (less than one 24-byte object per batch) before the case fails.
/// </remarks>
internal static class AllocationGate
{
    private const int WarmupBatches = 500;
    private const int Rounds = 5;
    private const int BatchesPerRound = 200;
    private const int MessagesPerBatch = 100;
    private const long SlackBytesPerRound = 2048;
    private static readonly TimeSpan WarmupTime = TimeSpan.FromSeconds(1);

    /// <summary>Checks every case of <paramref name="budgetPath"/>; returns the process exit code (0: all within budget).</summary>
    public static int Run(string budgetPath, TextWriter output)
    {
        List<BudgetCase> cases;
        try
        {
            cases = ReadBudget(budgetPath);
        }
        catch (Exception ex) when (ex is IOException or JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            output.WriteLine($"allocation gate: cannot read {budgetPath}: {ex.Message}");
            return 2;
        }
        var failed = 0;
        foreach (var c in cases)
        {
            var rounds = Measure(c);
            var best = rounds.Min();
            var messages = (long)BatchesPerRound * MessagesPerBatch;
            var allowed = (long)Math.Floor(c.BytesPerMessage * messages) + SlackBytesPerRound;
            var ok = best <= allowed;
            failed += ok ? 0 : 1;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"allocation gate: MQTT {c.Protocol} QoS {(int)c.QoS}, {c.Subscribers} subscriber(s): {(double)best / messages:0.##} B per message " +
                $"(budget {c.BytesPerMessage:0.##} B; bytes per round of {messages} messages: {string.Join(", ", rounds)}) {(ok ? "OK" : "OVER BUDGET")}"));
        }
        output.WriteLine(failed == 0
            ? $"allocation gate: {cases.Count} case(s) within budget"
            : $"allocation gate: {failed} of {cases.Count} case(s) over budget ({budgetPath}; see docs/performance.md)");
        return failed == 0 ? 0 : 1;
    }

    private static long[] Measure(BudgetCase c)
    {
        var bench = new BrokerPipelineBenchmarks { Subscribers = c.Subscribers, QoS = c.QoS, Version = c.Version };
        bench.Setup();
        try
        {
            var warmup = Stopwatch.StartNew();
            for (var i = 0; i < WarmupBatches || warmup.Elapsed < WarmupTime; i++)
            {
                bench.Publish();
            }
            var rounds = new long[Rounds];
            for (var r = 0; r < Rounds; r++)
            {
                var before = GC.GetTotalAllocatedBytes(precise: true);
                for (var i = 0; i < BatchesPerRound; i++)
                {
                    bench.Publish();
                }
                rounds[r] = GC.GetTotalAllocatedBytes(precise: true) - before;
            }
            return rounds;
        }
        finally
        {
            bench.Cleanup();
        }
    }

    private static List<BudgetCase> ReadBudget(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var cases = new List<BudgetCase>();
        foreach (var item in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var protocol = item.GetProperty("protocol").GetString();
            var version = protocol switch
            {
                "3.1.1" => ProtocolVersion.V311,
                "5.0" => ProtocolVersion.V500,
                _ => throw new FormatException($"protocol '{protocol}': use \"3.1.1\" or \"5.0\""),
            };
            var qos = item.GetProperty("qos").GetInt32();
            if (qos is < 0 or > 1)
            {
                throw new FormatException($"qos {qos}: the pipeline benchmark runs QoS 0 or 1");
            }
            var subscribers = item.GetProperty("subscribers").GetInt32();
            var budget = item.GetProperty("bytesPerMessage").GetDouble();
            if (subscribers < 1 || budget < 0)
            {
                throw new FormatException("subscribers must be 1 or more and bytesPerMessage 0 or more");
            }
            cases.Add(new BudgetCase(protocol!, version, (QualityOfService)qos, subscribers, budget));
        }
        if (cases.Count == 0)
        {
            throw new FormatException("no case in \"cases\"");
        }
        return cases;
    }

    private sealed record BudgetCase(string Protocol, ProtocolVersion Version, QualityOfService QoS, int Subscribers, double BytesPerMessage);
}
