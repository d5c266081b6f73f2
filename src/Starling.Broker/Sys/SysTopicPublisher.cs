using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Starling.Protocol;

namespace Starling.Broker.Sys;

/// <summary>
/// Publishes the broker's figures under <c>$SYS/broker/</c> with Mosquitto's topic names, retained, every interval
/// (only the values that changed since the last time, plus the uptime). Load figures are Mosquitto's: exponentially
/// weighted moving averages of a rate per minute over 1, 5 and 15 minutes. Runs on a <see cref="TimeProvider"/>
/// timer; <see cref="PublishNow"/> publishes at once (tests, start-up).
/// </summary>
/// <remarks>
/// Differences from Mosquitto: <c>messages/received</c> and <c>messages/sent</c> count PUBLISH packets (the broker
/// counts no other packet types), like <c>publish/messages/*</c>; <c>messages/sent</c> counts messages handed to
/// subscribers' sessions; <c>clients/maximum</c> is the highest number of connected clients seen at a sample.
/// </remarks>
public sealed class SysTopicPublisher : IDisposable
{
    /// <summary>The topics that carry load averages, each with /1min, /5min and /15min.</summary>
    private static readonly string[] s_loadNames =
    [
        "messages/received", "messages/sent", "publish/received", "publish/sent", "publish/dropped", "bytes/received", "bytes/sent",
        "connections",
    ];
    private static readonly double[] s_windowsMinutes = [1, 5, 15];
    private static readonly string[] s_windowNames = ["1min", "5min", "15min"];

    private readonly MqttBroker _broker;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _version;
    private readonly long _startTimestamp;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, string> _lastPublished = new(StringComparer.Ordinal);
    private readonly double[,] _loads = new double[s_loadNames.Length, s_windowsMinutes.Length];
    private readonly long[] _lastTotals = new long[s_loadNames.Length];
    private long _lastSampleTimestamp;
    private int _maximumConnected;
    private ITimer? _timer;

    /// <param name="broker">The broker whose figures are published (and which publishes them).</param>
    /// <param name="interval">Time between two publications; must be positive.</param>
    /// <param name="version">The text of <c>$SYS/broker/version</c>, e.g. "starling 1.0.0".</param>
    /// <param name="timeProvider">Clock and timers (a fake one in tests).</param>
    /// <param name="logger">Where a failed publication is reported.</param>
    public SysTopicPublisher(MqttBroker broker, TimeSpan interval, string version, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(broker);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _broker = broker;
        Interval = interval;
        _version = version;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _startTimestamp = _time.GetTimestamp();
        _lastSampleTimestamp = _startTimestamp;
    }

    /// <summary>Time between two publications.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Publishes once now, then every <see cref="Interval"/>.</summary>
    public void Start()
    {
        lock (_lock)
        {
            _timer ??= _time.CreateTimer(_ => Tick(), null, TimeSpan.Zero, Interval);
        }
    }

    private void Tick()
    {
        try
        {
            PublishNow();
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // The broker is stopping.
        }
        catch (Exception ex)
        {
            BrokerLog.SysPublishFailed(_logger, ex, ex.Message);
        }
    }

    /// <summary>
    /// Samples the broker, updates the load averages and publishes the values that changed (always the uptime).
    /// Returns every value of this sample by topic, published or not.
    /// </summary>
    public IReadOnlyDictionary<string, string> PublishNow()
    {
        lock (_lock)
        {
            var values = Sample();
            foreach (var (topic, value) in values)
            {
                if (_lastPublished.TryGetValue(topic, out var last) && last == value && !topic.EndsWith("/uptime", StringComparison.Ordinal))
                {
                    continue;
                }
                _broker.Publish(topic, Encoding.UTF8.GetBytes(value), QualityOfService.AtMostOnce, retain: true);
                _lastPublished[topic] = value;
            }
            return values;
        }
    }

    private Dictionary<string, string> Sample()
    {
        var stats = _broker.GetStats();
        var c = _broker.Counters;
        // The Heartbeat's sample, not a walk of every session (issue 16, finding 19).
        var depth = _broker.GetQueueDepth();
        var stored = depth.Queued + depth.Inflight;
        _maximumConnected = Math.Max(_maximumConnected, stats.ConnectedClients);
        var now = _time.GetTimestamp();
        var uptime = (long)_time.GetElapsedTime(_startTimestamp, now).TotalSeconds;

        long[] totals =
        [
            stats.MessagesReceived, stats.MessagesDelivered, stats.MessagesReceived, stats.MessagesDelivered, stats.MessagesDropped,
            stats.BytesReceived, stats.BytesSent, stats.ConnectionsAccepted,
        ];
        var elapsed = _time.GetElapsedTime(_lastSampleTimestamp, now).TotalSeconds;
        if (elapsed > 0)
        {
            for (var i = 0; i < totals.Length; i++)
            {
                var perMinute = (totals[i] - _lastTotals[i]) * 60.0 / elapsed;
                for (var w = 0; w < s_windowsMinutes.Length; w++)
                {
                    var decay = Math.Exp(-elapsed / (s_windowsMinutes[w] * 60));
                    _loads[i, w] = perMinute + (decay * (_loads[i, w] - perMinute));
                }
                _lastTotals[i] = totals[i];
            }
            _lastSampleTimestamp = now;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["$SYS/broker/version"] = _version,
            ["$SYS/broker/uptime"] = Text(uptime) + " seconds",
            ["$SYS/broker/clients/connected"] = Text(stats.ConnectedClients),
            ["$SYS/broker/clients/disconnected"] = Text(Math.Max(0, stats.Sessions - stats.ConnectedClients)),
            ["$SYS/broker/clients/total"] = Text(Math.Max(stats.Sessions, stats.ConnectedClients)),
            ["$SYS/broker/clients/maximum"] = Text(_maximumConnected),
            ["$SYS/broker/messages/received"] = Text(stats.MessagesReceived),
            ["$SYS/broker/messages/sent"] = Text(stats.MessagesDelivered),
            ["$SYS/broker/messages/stored"] = Text(stored),
            ["$SYS/broker/store/messages/count"] = Text(stored),
            ["$SYS/broker/publish/messages/received"] = Text(stats.MessagesReceived),
            ["$SYS/broker/publish/messages/sent"] = Text(stats.MessagesDelivered),
            ["$SYS/broker/publish/messages/dropped"] = Text(stats.MessagesDropped),
            ["$SYS/broker/bytes/received"] = Text(stats.BytesReceived),
            ["$SYS/broker/bytes/sent"] = Text(stats.BytesSent),
            ["$SYS/broker/subscriptions/count"] = Text(stats.Subscriptions),
            ["$SYS/broker/retained messages/count"] = Text(stats.RetainedMessages),
            ["$SYS/broker/connections/accepted"] = Text(stats.ConnectionsAccepted),
            ["$SYS/broker/connections/refused"] = Text(stats.ConnectionsRefused),
            ["$SYS/broker/protocol/errors"] = Text(Interlocked.Read(ref c.ProtocolErrors)),
            ["$SYS/broker/heap/current"] = Text(GC.GetTotalMemory(forceFullCollection: false)),
        };
        for (var i = 0; i < s_loadNames.Length; i++)
        {
            for (var w = 0; w < s_windowNames.Length; w++)
            {
                values[$"$SYS/broker/load/{s_loadNames[i]}/{s_windowNames[w]}"] = _loads[i, w].ToString("0.00", CultureInfo.InvariantCulture);
            }
        }
        return values;
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stops the timer; the retained values stay.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _timer = null;
        }
    }
}
