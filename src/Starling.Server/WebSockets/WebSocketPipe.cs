using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Starling.Server.WebSockets;

/// <summary>
/// A WebSocket seen as the byte stream MQTT expects (an <see cref="IDuplexPipe"/> for
/// <see cref="Starling.Broker.MqttBroker.RunConnectionAsync"/>). MQTT packets may be split across WebSocket messages
/// and one message may carry several packets [MQTT-6.0.0-2], so message boundaries are ignored on receive; what the
/// broker flushes at once is sent as one binary message. A text message is a protocol error [MQTT-6.0.0-1].
/// </summary>
internal sealed class WebSocketPipe : IDuplexPipe
{
    private readonly WebSocket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output = new(new PipeOptions(useSynchronizationContext: false));
    private volatile WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;

    /// <param name="socket">The accepted WebSocket.</param>
    /// <param name="maxBuffered">Received bytes buffered before the socket is no longer read (back-pressure); must exceed the largest packet.</param>
    public WebSocketPipe(WebSocket socket, long maxBuffered)
    {
        _socket = socket;
        _input = new Pipe(new PipeOptions(pauseWriterThreshold: maxBuffered, resumeWriterThreshold: maxBuffered / 2, useSynchronizationContext: false));
    }

    /// <summary>Bytes from the client, for the broker.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>Bytes from the broker, sent to the client as binary messages.</summary>
    public PipeWriter Output => _output.Writer;

    /// <summary>Why the connection ended from the WebSocket's point of view, for logs ("client closed", "text frame").</summary>
    public string? CloseCause { get; private set; }

    /// <summary>
    /// Runs <paramref name="application"/> over this pipe while pumping bytes both ways; returns when the application is
    /// done and the WebSocket is closed. <paramref name="aborted"/> is the HTTP request's abort token.
    /// </summary>
    public async Task RunAsync(Func<IDuplexPipe, Task> application, CancellationToken aborted)
    {
        using var receiveStop = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        var receiving = ReceiveLoopAsync(receiveStop.Token);
        var sending = SendLoopAsync(aborted);
        try
        {
            await application(this);
        }
        finally
        {
            // The broker is done: whatever it wrote goes out, then a close frame.
            await _output.Writer.CompleteAsync();
            await sending;
            await CloseAsync(aborted);
            // Give the client a moment to answer the close frame, then stop reading.
            receiveStop.CancelAfter(TimeSpan.FromSeconds(2));
            await receiving;
            await _input.Reader.CompleteAsync();
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var memory = _input.Writer.GetMemory(4096);
                var result = await _socket.ReceiveAsync(memory, cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    CloseCause ??= "the client closed the WebSocket";
                    break;
                }
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    // [MQTT-6.0.0-1]: data not sent as binary frames closes the connection.
                    CloseCause ??= "the client sent a text WebSocket message (MQTT needs binary messages)";
                    _closeStatus = WebSocketCloseStatus.InvalidMessageType;
                    break;
                }
                _input.Writer.Advance(result.Count);
                var flush = await _input.Writer.FlushAsync(cancellationToken);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException)
        {
            CloseCause ??= "the WebSocket failed: " + ex.Message;
        }
        // End of stream for the broker: it closes the connection (and publishes the will when there was no DISCONNECT).
        await _input.Writer.CompleteAsync();
    }

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                if (!buffer.IsEmpty && _socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    if (buffer.IsSingleSegment)
                    {
                        await _socket.SendAsync(buffer.First, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
                    }
                    else
                    {
                        var position = buffer.Start;
                        var hasMore = buffer.TryGet(ref position, out var segment);
                        while (hasMore)
                        {
                            var current = segment;
                            hasMore = buffer.TryGet(ref position, out segment);
                            await _socket.SendAsync(current, WebSocketMessageType.Binary, endOfMessage: !hasMore, cancellationToken);
                        }
                    }
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            await reader.CompleteAsync();
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is gone: the broker's next write fails and it closes the connection.
            CloseCause ??= "the WebSocket failed: " + ex.Message;
            await reader.CompleteAsync(ex is OperationCanceledException ? null : ex);
        }
    }

    /// <summary>Sends the close frame (only the send loop and this method send, one after the other).</summary>
    private async Task CloseAsync(CancellationToken cancellationToken)
    {
        var status = _closeStatus;
        var description = status == WebSocketCloseStatus.InvalidMessageType ? "MQTT needs binary messages" : null;
        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await _socket.CloseOutputAsync(status, description, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // Already closing or gone.
        }
    }
}
