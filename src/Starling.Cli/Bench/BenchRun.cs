using System.Net;

namespace Starling.Cli.Bench;

/// <summary>State shared by the connections of one run.</summary>
internal sealed class BenchRun(BenchSettings settings, IPEndPoint endpoint)
{
    private volatile bool _producing;
    private volatile bool _measuring;
    private volatile bool _ready;
    private string? _firstError;
    private int _lost;

    public BenchSettings Settings { get; } = settings;
    public IPEndPoint Endpoint { get; } = endpoint;

    /// <summary>Publishers may send (pub mode, between start and stop).</summary>
    public bool Producing { get => _producing; set => _producing = value; }

    /// <summary>Every connection is open (and subscribed): from here on reads may nap (<see cref="BenchSettings.BatchMicroseconds"/>).</summary>
    public bool Ready { get => _ready; set => _ready = value; }

    /// <summary>Inside the measured window: subscribers record latencies.</summary>
    public bool Measuring { get => _measuring; set => _measuring = value; }

    public int Lost => Volatile.Read(ref _lost);
    public string? FirstError => Volatile.Read(ref _firstError);

    public void OnConnectionLost(BenchConnection connection)
    {
        Interlocked.Increment(ref _lost);
        ReportError($"client {connection.Index}: {connection.LostReason}");
    }

    public void ReportError(string message) => Interlocked.CompareExchange(ref _firstError, message, null);
}
