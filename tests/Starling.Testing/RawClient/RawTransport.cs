using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Starling.Testing;

/// <summary>
/// What <see cref="RawMqttClient"/> talks through: a TCP socket to a running server, or a pair of in-memory pipes into
/// an <see cref="Broker.MqttBroker"/>. The read loop is the only caller of <see cref="ReceiveAsync"/>; a send never
/// overlaps another send.
/// </summary>
internal abstract class RawTransport : IDisposable
{
    /// <summary>Sends some of <paramref name="bytes"/>; returns how many.</summary>
    public abstract ValueTask<int> SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken);

    /// <summary>Reads into <paramref name="buffer"/>; 0 at end of stream.</summary>
    public abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Ends the stream without DISCONNECT (the server sees end of stream).</summary>
    public abstract void CloseAbruptly();

    /// <summary>Ends the stream with a reset where the transport has one.</summary>
    public abstract void Reset();

    /// <summary>Called by the read loop once it has ended (it never reads again).</summary>
    public virtual void ReadEnded()
    {
    }

    public abstract void Dispose();
}

/// <summary>A TCP socket.</summary>
internal sealed class SocketTransport(Socket socket) : RawTransport
{
    public override ValueTask<int> SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        => socket.SendAsync(bytes, SocketFlags.None, cancellationToken);

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        => socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);

    public override void CloseAbruptly()
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        socket.Close();
    }

    public override void Reset()
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        socket.Close();
    }

    public override void Dispose() => socket.Dispose();
}

/// <summary>
/// In-memory pipes into a broker: <paramref name="input"/> carries what the broker writes, <paramref name="output"/>
/// what the broker reads. Input is completed only by the read loop (<see cref="ReadEnded"/>): completing a reader while
/// a read is pending on another thread is not allowed; closing cancels the pending read instead.
/// </summary>
internal sealed class PipeTransport(PipeReader input, PipeWriter output) : RawTransport
{
    private int _outputCompleted;

    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await output.WriteAsync(bytes, cancellationToken);
        return bytes.Length;
    }

    public override async ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var result = await input.ReadAsync(cancellationToken);
        if (result.IsCanceled)
        {
            throw new OperationCanceledException("closed locally");
        }
        var available = result.Buffer;
        if (available.IsEmpty && result.IsCompleted)
        {
            input.AdvanceTo(available.End);
            return 0;
        }
        var take = (int)Math.Min(available.Length, buffer.Length);
        available.Slice(0, take).CopyTo(buffer.Span);
        input.AdvanceTo(available.GetPosition(take));
        return take;
    }

    /// <summary>Both directions, as a broken socket: a broker writer blocked on a full pipe to this client ends too.</summary>
    public override void CloseAbruptly()
    {
        CompleteOutput();
        input.CancelPendingRead();
    }

    public override void Reset() => CloseAbruptly();

    public override void ReadEnded() => input.Complete();

    public override void Dispose()
    {
        CompleteOutput();
        input.CancelPendingRead();
    }

    private void CompleteOutput()
    {
        if (Interlocked.Exchange(ref _outputCompleted, 1) == 0)
        {
            output.Complete();
        }
    }

    /// <summary>The broker's side of the pipes.</summary>
    internal sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
