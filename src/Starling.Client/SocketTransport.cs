using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;

namespace Starling.Client;

/// <summary>
/// A TCP socket seen as two pipes. The receive pump never pauses (the client consumes frame by frame and a paused
/// pipe could not hold a frame larger than the pause threshold). The send pump writes whatever accumulated in the
/// output pipe since its last send, so many small packets flushed close together leave in one system call.
/// </summary>
internal sealed class SocketTransport : IDuplexPipe, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private readonly Pipe _output = new(new PipeOptions(pauseWriterThreshold: 1024 * 1024, resumeWriterThreshold: 512 * 1024,
        minimumSegmentSize: 16 * 1024, useSynchronizationContext: false));
    private Task _receiveTask = Task.CompletedTask;
    private Task _sendTask = Task.CompletedTask;
    private int _disposed;

    // Set for a TLS connection: the pumps read and write through it instead of the raw socket.
    private SslStream? _tls;

    private SocketTransport(Socket socket) => _socket = socket;

    public PipeReader Input => _input.Reader;
    public PipeWriter Output => _output.Writer;

    public static async Task<SocketTransport> ConnectAsync(string host, int port, MqttClientTlsOptions? tls, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? stream = null;
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            if (tls is not null)
            {
                stream = await TlsHandshake.AuthenticateAsync(socket, host, tls, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var transport = new SocketTransport(socket) { _tls = stream };
        transport._receiveTask = transport.ReceiveLoopAsync();
        transport._sendTask = transport.SendLoopAsync();
        return transport;
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(8 * 1024);
                var n = _tls is { } tls
                    ? await tls.ReadAsync(memory).ConfigureAwait(false)
                    : await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }
                writer.Advance(n);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // A socket disposed by this side ends the loop quietly; anything else is the peer's or the network's fault.
            error = Volatile.Read(ref _disposed) != 0 ? null : ex;
        }
        await writer.CompleteAsync(error).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                if (buffer.IsSingleSegment)
                {
                    await SendAllAsync(buffer.First).ConfigureAwait(false);
                }
                else
                {
                    foreach (var segment in buffer)
                    {
                        await SendAllAsync(segment).ConfigureAwait(false);
                    }
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex)
        {
            error = ex;
        }
        await reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data)
    {
        if (_tls is { } tls)
        {
            await tls.WriteAsync(data).ConfigureAwait(false);
            return;
        }
        while (!data.IsEmpty)
        {
            var n = await _socket.SendAsync(data, SocketFlags.None).ConfigureAwait(false);
            data = data[n..];
        }
    }

    /// <summary>
    /// Lets the send pump write what is already in the output pipe, then shuts the socket down. The caller must have
    /// completed <see cref="Output"/> first (under its write lock).
    /// </summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        await _sendTask.WaitAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>Closes the socket; both pumps end. Safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _output.Reader.CancelPendingRead();
        _socket.Dispose();
        if (_tls is { } tls)
        {
            await tls.DisposeAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(_receiveTask, _sendTask).ConfigureAwait(false);
    }
}
