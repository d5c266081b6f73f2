using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Starling.Server.Transport;

/// <summary>
/// The duplex pipe of one plain-TCP MQTT connection, straight over its socket (no <see cref="Pipe"/>, no transport
/// loops). It is the reader itself; <see cref="Output"/> is a <see cref="SocketPipeWriter"/>.
/// <para>
/// Memory (docs/architecture.md, "Transport"): an idle connection holds no buffer, no pending socket operation and
/// no state machine. A read that finds nothing leaves the socket to the <see cref="ReadinessPoller"/>; on the next
/// readiness event a thread-pool turn rents a buffer, takes what the kernel holds without blocking, and completes the
/// read (the broker's read loop continues on that thread). The buffer goes back to the pool as soon as the broker has
/// consumed every byte. It is contiguous: it grows (copying) when a frame does not fit, up to the frame size the
/// broker accepts (it rejects larger frames from their header).
/// </para>
/// <para>
/// Contract used by the broker (a subset of <see cref="PipeReader"/>): one reader at a time; positions passed to
/// <see cref="AdvanceTo(SequencePosition, SequencePosition)"/> come from the last buffer returned;
/// <see cref="CancelPendingRead"/> (any thread) ends reading for good: this read and every later one return
/// IsCanceled, since the broker cancels only when it closes the connection. The socket is closed once both sides
/// are completed, lingering (SocketPipe.Closing.cs).
/// </para>
/// </summary>
internal sealed partial class SocketPipe : PipeReader, IDuplexPipe, IValueTaskSource<ReadResult>, IThreadPoolWorkItem
{
    private const int MinimumBuffer = 4096;
    private const int MaximumHint = 64 * 1024;
    // _state: no read waits / a read waits and nobody is receiving for it / someone (the reader itself, or one
    // thread-pool turn) is receiving for it. Only the thread that moved it to Receiving touches the buffer.
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Receiving = 2;

    private readonly Socket _socket;
    private readonly SocketPipeWriter _output;
    // The listener that accepted the socket: its poller watches the socket, its broker is told while the socket
    // lingers (it still holds a descriptor, and Limits:MaxOpenConnections counts it). One field for both: idle memory.
    private readonly SocketListener _listener;
    private readonly int _pollerSlot;
    // Received bytes are _buffer[_start.._end]; the reader has examined up to _examined. Null when nothing is held.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _examined;
    // Buffer size for the next rent: doubled (up to 64 KiB) when a receive filled the buffer, so a busy publisher
    // gets more than 4 KiB per read; an idle connection still holds no buffer at all.
    private int _rentHint = MinimumBuffer;
    private bool _readerCompleted;
    private bool _endOfStream;
    private volatile bool _canceled;
    private int _state;
    // Set by every readiness event, cleared before each receive attempt: an edge that came after a receive found
    // nothing is never lost. Starts set: bytes may have arrived before the socket was registered.
    private int _signaled = 1;
    private int _completedSides;
    // Lingering close: 1 while the socket is half-closed and what the peer still sends is read and discarded,
    // 2 once it is closed for good (see SideCompleted).
    private int _closeState;
    private ManualResetValueTaskSourceCore<ReadResult> _read;

    public SocketPipe(Socket socket, SocketListener listener)
    {
        _socket = socket;
        _listener = listener;
        _output = new SocketPipeWriter(socket, this);
        _pollerSlot = listener.Poller.Register(socket, this);
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
        _read.Reset();
        Volatile.Write(ref _state, Receiving);
        // Under load the bytes are usually there already: received here, no wait.
        if (TryReceive(out var result))
        {
            return new ValueTask<ReadResult>(result);
        }
        return new ValueTask<ReadResult>(this, _read.Version);
    }

    /// <summary>
    /// Receiving for a waiting read: true with the result when bytes, the end of the stream or an error turned up.
    /// False when there was nothing: the read is left Waiting for the next readiness event (or a cancel).
    /// </summary>
    private bool TryReceive(out ReadResult result)
    {
        while (true)
        {
            Volatile.Write(ref _signaled, 0);
            bool received;
            try
            {
                received = TryReceiveAvailable();
            }
            catch (IOException)
            {
                Volatile.Write(ref _state, Idle);
                throw;
            }
            if (received)
            {
                Volatile.Write(ref _state, Idle);
                result = new ReadResult(Buffered, isCanceled: false, isCompleted: _endOfStream);
                return true;
            }
            // Dekker with OnReadinessEvent/CancelPendingRead (a full fence, then look at what came meanwhile): either
            // they see Waiting and take the read over, or this sees their flag.
            Interlocked.Exchange(ref _state, Waiting);
            if (_canceled && Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
            {
                result = new ReadResult(ReadOnlySequence<byte>.Empty, isCanceled: true, isCompleted: false);
                return true;
            }
            if (Volatile.Read(ref _signaled) == 0 || Interlocked.CompareExchange(ref _state, Receiving, Waiting) != Waiting)
            {
                result = default;
                return false; // the next event (or the one that just took over) completes the read
            }
        }
    }

    /// <summary>Poller thread: the socket may be readable. A waiting read gets one thread-pool turn to receive.</summary>
    internal void OnReadinessEvent()
    {
        if (Volatile.Read(ref _closeState) != 0)
        {
            Drain();
            return;
        }
        Volatile.Write(ref _signaled, 1);
        if (Interlocked.CompareExchange(ref _state, Receiving, Waiting) == Waiting)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>The thread-pool turn after a readiness event: receives and completes the waiting read.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        bool done;
        ReadResult result;
        try
        {
            done = TryReceive(out result);
        }
        catch (IOException ex)
        {
            _read.SetException(ex);
            return;
        }
        if (done)
        {
            _read.SetResult(result);
        }
    }

    /// <summary>One non-blocking receive into free buffer space; true when it returned bytes or the end of the stream.</summary>
    private bool TryReceiveAvailable()
    {
        EnsureSpace();
        int received;
        try
        {
            received = NativeSocket.Receive(_socket, _buffer.AsSpan(_end));
        }
        catch (IOException)
        {
            ReleaseIfEmpty();
            throw;
        }
        if (received < 0)
        {
            ReleaseIfEmpty();
            return false;
        }
        if (received == 0)
        {
            _endOfStream = true;
            ReleaseIfEmpty();
            return true;
        }
        if (_end + received == _buffer!.Length)
        {
            _rentHint = Math.Min(_buffer.Length * 2, MaximumHint);
        }
        _end += received;
        return true;
    }

    /// <summary>Makes room after <see cref="_end"/>: compacts unconsumed bytes to the front, or grows the buffer.</summary>
    private void EnsureSpace()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(_rentHint);
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
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
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

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _read.OnCompleted(continuation, state, token, flags);
}
