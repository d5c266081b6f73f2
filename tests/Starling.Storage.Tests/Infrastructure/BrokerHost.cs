using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Starling.Broker;
using Starling.Broker.Storage;
using Starling.Testing;

namespace Starling.Storage.Tests.Infrastructure;

/// <summary>An <see cref="MqttBroker"/> with a given store behind a bare TCP listener (no Kestrel), for store fault tests.</summary>
/// <remarks>
/// Not the toolkit's <c>TestServer</c>, on purpose: these tests hand the broker a store <em>instance</em> and then
/// inspect it, which <c>StarlingServer</c> (it builds its store from configuration) cannot do. MemoryBoundTests keeps
/// one <see cref="MemoryStore"/> across two broker lifetimes (a restart of the memory store) and reads its statistics;
/// SqliteFaultTests opens a <c>SqliteStore</c> with <c>MaxDatabaseSizeBytes</c>, which has no configuration key, to
/// make the disk fill up.
/// </remarks>
public sealed class BrokerHost : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    public BrokerHost(IStore? store, BrokerOptions? options = null)
    {
        Logs = new CapturingLoggerProvider();
        LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Information));
        Broker = new MqttBroker(options ?? new BrokerOptions(), LoggerFactory, TimeProvider.System, store);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
        _accept = AcceptAsync();
    }

    public MqttBroker Broker { get; }

    public CapturingLoggerProvider Logs { get; }

    public ILoggerFactory LoggerFactory { get; }

    public IPEndPoint Endpoint { get; }

    private async Task AcceptAsync()
    {
        var n = 0;
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            socket.NoDelay = true;
            var stream = new NetworkStream(socket, ownsSocket: true);
            var pipe = new StreamPipe(PipeReader.Create(stream), PipeWriter.Create(stream));
            var info = new ConnectionInfo($"c{++n}", socket.RemoteEndPoint, socket.LocalEndPoint, "tcp");
            _ = Task.Run(async () =>
            {
                await Broker.RunConnectionAsync(pipe, info, _stop.Token);
                await stream.DisposeAsync();
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Broker.StopAsync(CancellationToken.None);
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        LoggerFactory.Dispose();
        _stop.Dispose();
    }

    private sealed class StreamPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
