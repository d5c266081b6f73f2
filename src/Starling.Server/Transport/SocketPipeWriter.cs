using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Starling.Server.Transport;

/// <summary>
/// The output side of a <see cref="SocketPipe"/>: packets are encoded into one rented, contiguous buffer and a flush
/// sends it. A flush first sends without blocking (<see cref="NativeSocket"/>; the kernel usually takes everything)
/// and only a full send buffer (a slow reader) falls back to an asynchronous send, whose state then stays with the
/// socket; the buffer goes back to the pool once sent, so an idle connection holds none.
/// Contract used by the broker: one writer at a time (the connection's writer, then its close path);
/// <see cref="CancelPendingFlush"/> may come from another thread.
/// </summary>
internal sealed class SocketPipeWriter(Socket socket, SocketPipe owner) : PipeWriter
{
    private const int MinimumBuffer = 4096;
    private const int MaximumHint = 128 * 1024;

    private byte[]? _buffer;
    private int _written;
    // The size of the last batch flushed (capped): the next batch starts with a buffer that size, so a busy connection
    // does not grow (and copy) its buffer from 4 KiB on every batch, while an idle one still holds none.
    private int _lastBatch;
    // Set once the peer is gone or the writer completed: later writes are dropped, flushes report IsCompleted.
    private bool _closed;
    private bool _completed;
    private volatile bool _cancelFlush;
    // Something was handed to the kernel: only then can a reset at close lose bytes the peer has not read. A plain
    // field: it is read after both sides completed, and SideCompleted's Interlocked.Increment orders the two.
    private bool _sentAny;
    // Only while an asynchronous send is pending (slow path); CancelPendingFlush cancels it.
    private volatile CancellationTokenSource? _pendingSend;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written;

    /// <summary>True once any byte was sent (read by the owner at close, after both sides completed).</summary>
    public bool SentAny => _sentAny;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Reserve(int sizeHint)
    {
        var needed = _written + Math.Max(sizeHint, 1);
        if (_buffer is not null && needed <= _buffer.Length)
        {
            return;
        }
        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(Math.Max(MinimumBuffer, _lastBatch), (_buffer?.Length ?? 0) * 2)));
        if (_buffer is not null)
        {
            Buffer.BlockCopy(_buffer, 0, grown, 0, _written);
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = grown;
    }

    public override void Advance(int bytes)
    {
        if ((uint)bytes > (uint)((_buffer?.Length ?? 0) - _written))
        {
            throw new ArgumentOutOfRangeException(nameof(bytes));
        }
        _written += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_cancelFlush)
        {
            _cancelFlush = false;
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        }
        var sent = 0;
        _sentAny |= _written > 0 && !_closed;
        while (sent < _written && !_closed)
        {
            var n = NativeSocket.Send(socket, _buffer.AsSpan(sent, _written - sent));
            if (n == -1)
            {
                return SendSlowAsync(sent);
            }
            if (n < 0)
            {
                _closed = true;
                break;
            }
            sent += n;
        }
        Release();
        return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _closed));
    }

    /// <summary>The kernel's send buffer is full: sends the rest asynchronously (TCP back-pressure on the writer).</summary>
    private async ValueTask<FlushResult> SendSlowAsync(int sent)
    {
        using var cancel = new CancellationTokenSource();
        _pendingSend = cancel;
        try
        {
            if (_cancelFlush)
            {
                cancel.Cancel();
            }
            while (sent < _written)
            {
                sent += await socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None, cancel.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Part of the buffer may be on the wire: the stream cannot continue, later writes are dropped.
            _cancelFlush = false;
            _closed = true;
            Release();
            return new FlushResult(isCanceled: true, isCompleted: false);
        }
        catch (SocketException)
        {
            _closed = true;
        }
        catch (ObjectDisposedException)
        {
            _closed = true;
        }
        finally
        {
            _pendingSend = null;
        }
        Release();
        return new FlushResult(isCanceled: false, isCompleted: _closed);
    }

    private void Release()
    {
        _lastBatch = Math.Min(_written, MaximumHint);
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
        _written = 0;
    }

    public override void CancelPendingFlush()
    {
        _cancelFlush = true;
        try
        {
            _pendingSend?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The send finished meanwhile.
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }
        _completed = true;
        _closed = true;
        Release();
        owner.SideCompleted();
    }
}
