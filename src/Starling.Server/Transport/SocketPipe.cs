using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Starling.Server.Transport;

/// <summary>
/// The duplex pipe of one plain-TCP MQTT connection, straight over its socket (no <see cref="Pipe"/>, no transport
/// loops). It is the reader itself; <see cref="Output"/> is a <see cref="SocketPipeWriter"/>.
/// <para>
/// Memory (docs/architecture.md, "Transport"): an idle connection holds no buffer and no pending state machine. A
/// read that finds nothing waits with a zero-byte receive (only the socket's receive operation is pending); when the
/// socket becomes readable it rents a buffer, takes what the kernel holds without blocking, and the buffer goes back
/// to the pool as soon as the broker has consumed every byte. The buffer is contiguous: it grows (copying) when a
/// frame does not fit, up to the frame size the broker accepts (it rejects larger frames from their header).
/// </para>
/// <para>
/// Contract used by the broker (a subset of <see cref="PipeReader"/>): one reader at a time; positions passed to
/// <see cref="AdvanceTo(SequencePosition, SequencePosition)"/> come from the last buffer returned;
/// <see cref="CancelPendingRead"/> (any thread) ends reading for good: this read and every later one return
/// IsCanceled, since the broker cancels only when it closes the connection. The socket is closed once both sides
/// are completed.
/// </para>
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The socket and its receive args are disposed when both sides are completed (SideCompleted).")]
internal sealed class SocketPipe : PipeReader, IDuplexPipe, IValueTaskSource<ReadResult>
{
    private const int MinimumBuffer = 4096;

    private readonly Socket _socket;
    private readonly SocketPipeWriter _output;
    private readonly ReceiveArgs _receive;
    // Received bytes are _buffer[_start.._end]; the reader has examined up to _examined. Null when nothing is held.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _examined;
    private bool _readerCompleted;
    private bool _endOfStream;
    private volatile bool _canceled;
    // 1 while a ReadAsync waits for the socket; whoever swaps it to 0 (receive completion or cancel) completes it.
    private int _waiting;
    private int _completedSides;
    private ManualResetValueTaskSourceCore<ReadResult> _read;

    public SocketPipe(Socket socket)
    {
        _socket = socket;
        _output = new SocketPipeWriter(socket, this);
        _receive = new ReceiveArgs(this);
    }

    public PipeReader Input => this;

    public PipeWriter Output => _output;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_canceled)
        {
            return new ValueTask<ReadResult>(new ReadResult(Buffered, isCanceled: true, isCompleted: false));
        }
        if (_examined < _end || _endOfStream)
        {
            return new ValueTask<ReadResult>(new ReadResult(Buffered, isCanceled: false, isCompleted: _endOfStream));
        }
        // Under load the bytes are usually there already: one non-blocking receive, no wait.
        if (TryReceiveAvailable())
        {
            return new ValueTask<ReadResult>(new ReadResult(Buffered, isCanceled: false, isCompleted: _endOfStream));
        }
        _read.Reset();
        Volatile.Write(ref _waiting, 1);
        // Canceled between the check above and here: nobody else will complete this read.
        if (_canceled && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            return new ValueTask<ReadResult>(new ReadResult(Buffered, isCanceled: true, isCompleted: false));
        }
        WaitForData();
        return new ValueTask<ReadResult>(this, _read.Version);
    }

    /// <summary>Starts zero-byte receives until one is pending (the usual case) or data turned up.</summary>
    private void WaitForData()
    {
        while (!_receive.Start(_socket))
        {
            // Completed synchronously: readable (or failed) already.
            if (OnReadable())
            {
                return;
            }
        }
    }

    /// <summary>
    /// The socket is readable (or failed): completes the waiting read. False when the readiness was spurious and the
    /// caller must wait again. Runs on the completion's thread, which then runs the broker's read loop inline.
    /// </summary>
    private bool OnReadable()
    {
        if (_receive.SocketError is not SocketError.Success and var error)
        {
            if (Interlocked.Exchange(ref _waiting, 0) == 1)
            {
                _read.SetException(new IOException($"receive failed: {error}", new SocketException((int)error)));
            }
            return true;
        }
        if (Volatile.Read(ref _waiting) == 0)
        {
            return true; // canceled meanwhile; nothing waits for these bytes
        }
        bool received;
        try
        {
            received = TryReceiveAvailable();
        }
        catch (IOException ex)
        {
            if (Interlocked.Exchange(ref _waiting, 0) == 1)
            {
                _read.SetException(ex);
            }
            return true;
        }
        if (!received)
        {
            return false;
        }
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _read.SetResult(new ReadResult(Buffered, isCanceled: false, isCompleted: _endOfStream));
        }
        return true;
    }

    /// <summary>One non-blocking receive into free buffer space; true when it returned bytes or the end of the stream.</summary>
    private bool TryReceiveAvailable()
    {
        EnsureSpace();
        var received = _socket.Receive(_buffer.AsSpan(_end), SocketFlags.None, out var error);
        if (error == SocketError.WouldBlock)
        {
            ReleaseIfEmpty();
            return false;
        }
        if (error != SocketError.Success)
        {
            ReleaseIfEmpty();
            throw new IOException($"receive failed: {error}", new SocketException((int)error));
        }
        if (received == 0)
        {
            _endOfStream = true;
            ReleaseIfEmpty();
            return true;
        }
        _end += received;
        return true;
    }

    /// <summary>Makes room after <see cref="_end"/>: compacts unconsumed bytes to the front, or grows the buffer.</summary>
    private void EnsureSpace()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(MinimumBuffer);
            return;
        }
        if (_end < _buffer.Length)
        {
            return;
        }
        var length = _end - _start;
        var target = length < _buffer.Length ? _buffer : ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
        Buffer.BlockCopy(_buffer, _start, target, 0, length);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }
        _examined -= _start;
        _start = 0;
        _end = length;
    }

    private void ReleaseIfEmpty()
    {
        if (_buffer is not null && _start == _end)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = _examined = 0;
        }
    }

    private ReadOnlySequence<byte> Buffered
        => _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    public override bool TryRead(out ReadResult result)
    {
        if (_canceled || _examined < _end || _endOfStream)
        {
            result = new ReadResult(Buffered, _canceled, _endOfStream && !_canceled);
            return true;
        }
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null)
        {
            return;
        }
        // Array-backed sequence positions carry the index into _buffer.
        _start = consumed.GetInteger();
        _examined = Math.Max(examined.GetInteger(), _start);
        ReleaseIfEmpty();
    }

    public override void CancelPendingRead()
    {
        _canceled = true;
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            // The caller may hold a lock (takeover, shutdown): the read loop continues on the thread pool, not here.
            ThreadPool.UnsafeQueueUserWorkItem(static pipe => pipe._read.SetResult(
                new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: true, isCompleted: false)), this, preferLocal: false);
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (_readerCompleted)
        {
            return;
        }
        _readerCompleted = true;
        _canceled = true;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
        SideCompleted();
    }

    /// <summary>Reader and writer each call this once; the second closes the socket (FIN after any written bytes).</summary>
    internal void SideCompleted()
    {
        if (Interlocked.Increment(ref _completedSides) != 2)
        {
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // The peer is gone already.
        }
        _socket.Dispose();
        _receive.Dispose();
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _read.OnCompleted(continuation, state, token, flags);

    /// <summary>The zero-byte receive that waits for readability; its completion continues the waiting read.</summary>
    private sealed class ReceiveArgs : SocketAsyncEventArgs
    {
        private readonly SocketPipe _owner;

        public ReceiveArgs(SocketPipe owner) : base(unsafeSuppressExecutionContextFlow: true)
        {
            _owner = owner;
            SetBuffer(Memory<byte>.Empty);
        }

        /// <summary>True when the receive is pending (completion comes later), false when it completed already.</summary>
        public bool Start(Socket socket)
        {
            try
            {
                return socket.ReceiveAsync(this);
            }
            catch (ObjectDisposedException)
            {
                SocketError = SocketError.OperationAborted;
                return false;
            }
        }

        protected override void OnCompleted(SocketAsyncEventArgs e)
        {
            if (!_owner.OnReadable())
            {
                _owner.WaitForData();
            }
        }
    }
}
