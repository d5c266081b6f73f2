using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Benchmarks;

/// <summary>
/// TopicIndex.Match with 10^5 and 10^6 subscriptions. Exact: N filters "dev/{i}/temp". Wildcard: N filters "dev/{i}/#"
/// (a trie node per device). Each lookup matches exactly one subscription; lookups cycle through 1,024 devices.
/// </summary>
public class TopicIndexBenchmarks
{
    private readonly List<Subscription> _plain = new(16);
    private readonly List<SharedGroup> _groups = new(4);
    private TopicIndex _index = null!;
    private string[] _topics = [];
    private int _next;

    public enum FilterKind
    {
        Exact,
        Wildcard,
    }

    [Params(100_000, 1_000_000)]
    public int Subscriptions { get; set; }

    [Params(FilterKind.Exact, FilterKind.Wildcard)]
    public FilterKind Filters { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = new BrokerOptions();
        var counters = new BrokerCounters();
        var storage = new Starling.Broker.Storage.BrokerStorage(null, TimeProvider.System, NullLogger.Instance);
        var services = new SessionServices(options, counters, TimeProvider.System, storage);
        var sessions = new Session[1000];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = new Session("client-" + i, services);
        }
        var before = GC.GetTotalMemory(true);
        _index = new TopicIndex();
        for (var i = 0; i < Subscriptions; i++)
        {
            var filter = Filters == FilterKind.Exact ? $"dev/{i}/temp" : $"dev/{i}/#";
            _index.Add(new Subscription(sessions[i % sessions.Length], filter, filter, new SubscriptionOptions(QualityOfService.AtMostOnce), 0, null));
        }
        var after = GC.GetTotalMemory(true);
        Console.WriteLine($"// TopicIndex {Filters} x {Subscriptions:N0}: {(after - before) / (double)Subscriptions:N0} bytes per subscription (index + Subscription objects)");
        var step = Subscriptions / 1024;
        _topics = [.. Enumerable.Range(0, 1024).Select(i => $"dev/{i * step}/temp")];
    }

    [Benchmark]
    public int Match()
    {
        var topic = _topics[_next++ & 1023];
        _plain.Clear();
        _groups.Clear();
        _index.Match(topic, _plain, _groups);
        return _plain.Count;
    }

    /// <summary>A topic that matches nothing (the common case for a broker with many unrelated subscriptions).</summary>
    [Benchmark]
    public int Miss()
    {
        _plain.Clear();
        _groups.Clear();
        _index.Match("other/device/temp", _plain, _groups);
        return _plain.Count;
    }
}
