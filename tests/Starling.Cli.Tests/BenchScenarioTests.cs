using System.Reflection;
using System.Text.RegularExpressions;
using Starling.Testing;

namespace Starling.Cli.Tests;

/// <summary>
/// bench/compare.sh runs the independent harness's scenarios (../shared/perf/bench.sh) with the same load, and Mosquitto
/// with the same settings: otherwise the two harnesses measure different things and disagree (issue 17).
/// </summary>
public sealed partial class BenchScenarioTests
{
    /// <summary>The reference's table (../shared/perf/README.md, bench.sh), normalised: sub | pub.</summary>
    private static readonly Dictionary<string, string> Reference = new()
    {
        ["fanin-q0"] = "c=1 t=bench/# q=0 s=64 rate=- w=- batch=200 | c=50 t=bench/%i q=0 s=64 rate=max w=- batch=0",
        ["fanin-q1"] = "c=1 t=bench/# q=1 s=64 rate=- w=- batch=200 | c=50 t=bench/%i q=1 s=64 rate=max w=10 batch=200",
        ["pairs-q1"] = "c=100 t=bench/%i q=1 s=64 rate=- w=- batch=200 | c=100 t=bench/%i q=1 s=64 rate=max w=10 batch=200",
        ["fanout-q0"] = "c=1000 t=bench/fan q=0 s=64 rate=- w=- batch=200 | c=1 t=bench/fan q=0 s=64 rate=1000 w=- batch=0",
        ["q2"] = "c=10 t=bench/%i q=2 s=64 rate=- w=- batch=200 | c=10 t=bench/%i q=2 s=64 rate=max w=10 batch=200",
        ["lat-q1"] = "c=10 t=bench/%i q=1 s=64 rate=- w=- batch=0 | c=10 t=bench/%i q=1 s=64 rate=500 w=10 batch=0",
    };

    [Fact]
    public void Compare_script_runs_the_reference_scenarios()
    {
        var ours = ScenarioTable(File.ReadAllText(Path.Combine(RepoRoot(), "bench", "compare.sh")), OwnArguments(), starling: true);
        Assert.Equal(Reference.OrderBy(p => p.Key), ours.OrderBy(p => p.Key));
    }

    [Fact]
    public void Reference_table_above_is_the_independent_harness_table_when_it_is_present()
    {
        var path = Path.Combine(RepoRoot(), "..", "shared", "perf", "bench.sh");
        if (!File.Exists(path))
        {
            return; // only beside a checkout that has the shared harness (the project's machines do)
        }
        var theirs = ScenarioTable(File.ReadAllText(path), ReferenceArguments(), starling: false);
        Assert.Equal(Reference.OrderBy(p => p.Key), theirs.OrderBy(p => p.Key));
    }

    [Fact]
    public void Compare_script_runs_mosquitto_with_the_reference_settings()
    {
        static string[] Settings(string text) => [.. text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Order()];
        var ours = Settings(File.ReadAllText(Path.Combine(RepoRoot(), "bench", "mosquitto.conf")));
        // The packaged defaults stay (max_inflight_messages 20, Nagle on): the queue is deep so nothing is dropped.
        Assert.Equal(["allow_anonymous true", "listener 18841 127.0.0.1", "log_dest stderr", "log_type error", "log_type warning",
            "max_connections -1", "max_queued_messages 1000000", "persistence false"], ours);
        var reference = Path.Combine(RepoRoot(), "..", "shared", "perf", "mosquitto.conf");
        if (File.Exists(reference))
        {
            Assert.Equal(Settings(File.ReadAllText(reference)), ours);
        }
    }

    [Fact]
    public void Compare_script_runs_starling_with_its_default_durable_store_and_limits()
    {
        var script = File.ReadAllText(Path.Combine(RepoRoot(), "bench", "compare.sh"));
        Assert.Contains("--data-dir", script, StringComparison.Ordinal);
        Assert.DoesNotContain("--memory", script, StringComparison.Ordinal);
        Assert.DoesNotContain("STARLING_Limits__", script, StringComparison.Ordinal);
        Assert.DoesNotContain("--rate ", script, StringComparison.Ordinal); // no connect-rate cap
    }

    /// <summary>scenario -> "sub | pub" from lines `NAME) ... "SUB|PUB"` (ours) or `NAME) SUBA="..."; PUBA="..."` (reference).</summary>
    private static Dictionary<string, string> ScenarioTable(string script, Regex line, bool starling)
    {
        var table = new Dictionary<string, string>();
        foreach (Match m in line.Matches(script))
        {
            var name = m.Groups["name"].Value;
            if (Reference.ContainsKey(name))
            {
                table[name] = Normalise(m.Groups["sub"].Value, starling) + " | " + Normalise(m.Groups["pub"].Value, starling);
            }
        }
        return table;
    }

    /// <summary>Flags of `starling bench` or mqload into one form: clients, topic, QoS, size, rate per client, in-flight window, batch.</summary>
    private static string Normalise(string args, bool starling)
    {
        var words = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string Value(string flag, string fallback)
        {
            var i = Array.IndexOf(words, flag);
            return i >= 0 && i + 1 < words.Length ? words[i + 1] : fallback;
        }
        var isPub = starling ? words.Contains("--max-rate") || words.Contains("-I") : words.Contains("-s");
        var qos = Value("-q", "0");
        string rate = "-", window = "-";
        if (isPub)
        {
            rate = starling
                ? (words.Contains("--max-rate") ? "max" : (1000 / double.Parse(Value("-I", "1000"), System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture))
                : Value("-r", "max");
            window = qos == "0" ? "-" : Value(starling ? "--inflight" : "-w", "10");
        }
        return $"c={Value("-c", "1")} t={Value("-t", "bench/%i")} q={qos} s={Value("-s", "64")} rate={rate} w={window} batch={Value("--batch-us", "0")}";
    }

    private static string RepoRoot() => RepositoryRoot.Of(typeof(BenchScenarioTests).Assembly);

    [GeneratedRegex("""^\s*(?<name>[a-z0-9-]+)\)\s+echo "(?<sub>[^|"]*)\|(?<pub>[^"]*)" ;;""", RegexOptions.Multiline)]
    private static partial Regex OwnArguments();

    [GeneratedRegex("""^(?<name>[a-z0-9-]+)\) SUBA="(?<sub>[^"]*)"; PUBA="(?<pub>[^"]*)";""", RegexOptions.Multiline)]
    private static partial Regex ReferenceArguments();
}
