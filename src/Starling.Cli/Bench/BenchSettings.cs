using System.Net;
using Starling.Protocol;

namespace Starling.Cli.Bench;

/// <summary>What <c>starling bench</c> does: publish, subscribe, or open idle connections.</summary>
public enum BenchMode
{
    Pub,
    Sub,
    Conn,
}

/// <summary>The options of one bench run, already validated (see <see cref="BenchCommand"/>).</summary>
public sealed class BenchSettings
{
    public BenchMode Mode { get; set; }
    public string Host { get; set; } = "localhost";
    public int Port { get; set; } = 1883;

    /// <summary>Number of connections (clients) in this process.</summary>
    public int Clients { get; set; } = 1;

    public QualityOfService QoS { get; set; }

    /// <summary>Topic (pub) or filter (sub); <c>%i</c> becomes the client index.</summary>
    public string Topic { get; set; } = "bench/%i";

    /// <summary>Payload bytes per message; at least 8 (the send timestamp).</summary>
    public int PayloadSize { get; set; } = 64;

    /// <summary>Milliseconds between two messages of one client (fixed rate); ignored with <see cref="MaxRate"/>.</summary>
    public double IntervalMs { get; set; } = 1000;

    /// <summary>Publish as fast as possible: QoS 0 pipelines batches of writes, QoS 1/2 keeps <see cref="Inflight"/> per client.</summary>
    public bool MaxRate { get; set; }

    /// <summary>Unacknowledged QoS 1/2 publishes per client.</summary>
    public int Inflight { get; set; } = 10;

    public ProtocolVersion Version { get; set; } = ProtocolVersion.V311;
    public int KeepAliveSeconds { get; set; } = 60;

    /// <summary>Seconds run before the measured window (pub: from the start of publishing; sub: from the first delivery).</summary>
    public double WarmupSeconds { get; set; }

    /// <summary>Length of the measured window in seconds; null with a <see cref="Limit"/> means "until the limit".</summary>
    public double? DurationSeconds { get; set; }

    /// <summary>pub: messages in all (split between the clients); sub: stop after this many deliveries; 0 = no limit.</summary>
    public long Limit { get; set; }

    /// <summary>Hard bound on the whole run (connects included), in seconds.</summary>
    public double TimeoutSeconds { get; set; }

    /// <summary>Local addresses to bind, connection i using entry i mod length (empty: let the system choose).</summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; set; } = [];

    /// <summary>New connections per second (0, the default: as fast as the concurrency cap allows; a cap would hide the broker's own rate).</summary>
    public double ConnectRate { get; set; }

    /// <summary>Connection attempts (TCP connect + CONNECT/CONNACK) outstanding at once.</summary>
    public int ConnectConcurrency { get; set; } = 64;

    /// <summary>conn mode: broker process whose RSS is read before and after.</summary>
    public int? BrokerPid { get; set; }

    public string? Username { get; set; }
    public string? Password { get; set; }

    /// <summary>Client ids are prefix + mode letter + index; the default adds the process id so runs do not collide.</summary>
    public string ClientIdPrefix { get; set; } = $"sb{Environment.ProcessId % 100000}";

    public string? JsonPath { get; set; }

    /// <summary>Written (empty) once every client is connected and subscribed, so a script can start the publishers.</summary>
    public string? ReadyFile { get; set; }

    /// <summary>Called once every connection is open (and, in sub mode, subscribed): the in-process form of <see cref="ReadyFile"/>.</summary>
    public Action? OnReady { get; set; }

    /// <summary>Effective measured window: the duration, or unbounded (until limit) when only a limit was given.</summary>
    internal double WindowSeconds => DurationSeconds ?? (Limit > 0 ? double.PositiveInfinity : 10);

    /// <summary>Microseconds a reading thread sleeps after a busy read, so reads and acks coalesce (0: never; see <see cref="BenchNap"/>).</summary>
    public int BatchMicroseconds { get; set; }

    /// <summary>Index of this process's first client: %i and client ids count from here, so that several generator processes can share one scenario.</summary>
    public int FirstIndex { get; set; }

    /// <summary>sub: written once the measured window opens, "FROM TO" in Unix seconds, so a script can sample CPU over the same window.</summary>
    public string? WindowFile { get; set; }

    internal string TopicFor(int index) => Topic.Replace("%i", (FirstIndex + index).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);

    internal string ClientIdFor(int index) =>
        ClientIdPrefix + char.ToLowerInvariant(Mode.ToString()[0]) + (FirstIndex + index).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
