using System.Net.Sockets;

namespace Starling.Server.Transport;

/// <summary>The end of a <see cref="SocketPipe"/>: both sides completed, then a lingering close of the socket.</summary>
internal sealed partial class SocketPipe
{
    /// <summary>
    /// Reader and writer each call this once; the second closes the socket, lingering. Closing a socket whose receive
    /// buffer still holds bytes makes the kernel send RST, and an RST can discard what the peer has not read yet:
    /// the DISCONNECT with its reason code, or the last acks (a client that kept publishing after the broker decided
    /// to close, e.g. past Receive Maximum, would see "connection reset" instead of DISCONNECT 0x93). So: FIN after
    /// the last written byte, then read and discard what the peer still sends until it closes too, at most
    /// <see cref="LingerBytes"/> or <see cref="LingerTime"/>, whichever comes first. A connection that never sent a
    /// byte (refused at admission, or the peer left first) has nothing to lose to a reset and closes at once: a flood
    /// of refused sockets must give its descriptors back now, not a second later.
    /// </summary>
    internal void SideCompleted()
    {
        if (Interlocked.Increment(ref _completedSides) != 2)
        {
            return;
        }
        if (!_output.SentAny)
        {
            CloseNow();
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            CloseNow(); // the peer is gone already
            return;
        }
        // Counted before the state says lingering, so the CloseNow that ends it always has a count to take back.
        _listener.Broker.TransportLingering();
        Volatile.Write(ref _closeState, 1);
        if (!Drain())
        {
            _ = Task.Delay(LingerTime).ContinueWith(static (_, pipe) => ((SocketPipe)pipe!).CloseNow(), this,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private const int LingerBytes = 64 * 1024;
    private static readonly TimeSpan LingerTime = TimeSpan.FromSeconds(1);
    [ThreadStatic] private static byte[]? t_discard;

    /// <summary>Reads and discards what is there; true once the socket is closed (end of stream, error or the byte cap).</summary>
    private bool Drain()
    {
        if (Volatile.Read(ref _closeState) == 2)
        {
            return true;
        }
        var added = false;
        try
        {
            // The reference keeps the descriptor open (and so its number from being reused) while we read from it.
            _socket.SafeHandle.DangerousAddRef(ref added);
            var scratch = t_discard ??= new byte[4096];
            for (var total = 0; total < LingerBytes;)
            {
                var n = NativeSocket.Receive(_socket, scratch);
                if (n < 0)
                {
                    return false; // nothing more for now: the next readiness event (or the timer) continues
                }
                if (n == 0)
                {
                    break; // the peer closed its side
                }
                total += n;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // Reset by the peer, or closed already.
        }
        finally
        {
            if (added)
            {
                _socket.SafeHandle.DangerousRelease();
            }
        }
        CloseNow();
        return true;
    }

    private void CloseNow()
    {
        var previous = Interlocked.Exchange(ref _closeState, 2);
        if (previous == 2)
        {
            return;
        }
        if (previous == 1)
        {
            _listener.Broker.TransportClosed();
        }
        _listener.Poller.Unregister(_socket, _pollerSlot);
        _socket.Dispose();
        _listener.Sockets.Release(); // once: only the first CloseNow gets here
    }
}
