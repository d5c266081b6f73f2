using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Starling.Server.Transport;

/// <summary>
/// Non-blocking <c>recv</c>/<c>send</c> on a socket's descriptor (MSG_DONTWAIT), next to the <see cref="ReadinessPoller"/>
/// and on the same platforms. Not <see cref="Socket.Receive(Span{byte}, SocketFlags, out SocketError)"/>: on Linux that
/// needs either a blocking socket (emulated through the socket's async context) or <c>Blocking = false</c>, which
/// creates that context too (about 230 bytes per connection, finding 2 of docs/performance.md).
/// </summary>
internal static partial class NativeSocket
{
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int Eagain = 11;
    private const int Eintr = 4;

    /// <summary>Bytes received (0 = end of stream), or -1 when nothing is there now; throws on a socket error.</summary>
    public static unsafe int Receive(Socket socket, Span<byte> buffer)
    {
        int result;
        fixed (byte* p = buffer)
        {
            result = Transfer(socket, p, buffer.Length, &Recv, MsgDontWait);
        }
        if (result >= 0 || result == -Eagain)
        {
            return Math.Max(result, -1);
        }
        throw new IOException("receive failed: " + Marshal.GetPInvokeErrorMessage(-result), new SocketException(-result));
    }

    /// <summary>Bytes sent, -1 when the kernel's send buffer is full, -2 when the connection is gone.</summary>
    public static unsafe int Send(Socket socket, ReadOnlySpan<byte> buffer)
    {
        int result;
        fixed (byte* p = buffer)
        {
            result = Transfer(socket, p, buffer.Length, &SendNative, MsgDontWait | MsgNoSignal);
        }
        return result >= 0 ? result : result == -Eagain ? -1 : -2;
    }

    /// <summary>One recv/send, retried on EINTR: the byte count, or minus errno.</summary>
    private static unsafe int Transfer(Socket socket, byte* buffer, int length, delegate*<int, byte*, nint, int, nint> call, int flags)
    {
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        while (true)
        {
            var n = call(fd, buffer, length, flags);
            if (n >= 0)
            {
                return (int)n;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Eintr)
            {
                return -errno;
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static unsafe partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static unsafe partial nint SendNative(int fd, byte* buffer, nint length, int flags);
}
