using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Starling.Server.Transport;

/// <summary>
/// One epoll set and one thread that tell <see cref="SocketPipe"/>s when their socket became readable (edge-triggered),
/// so an idle connection waits without any pending .NET socket operation: no <c>SocketAsyncEventArgs</c>, no
/// per-socket async context (about 600 bytes per connection). Linux x64 only (the packed <c>epoll_event</c> layout);
/// elsewhere <see cref="IsSupported"/> is false and plain TCP listeners run on Kestrel.
/// Events carry a slot number; a slot reused by a newer socket may get a stale event, which only costs that socket a
/// receive that finds nothing (pipes treat every event as a hint).
/// </summary>
internal static partial class ReadinessPoller
{
    private const int EpollCloExec = 0x80000;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const uint EpollIn = 0x001;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollEt = 1u << 31;
    private const int Eintr = 4;

    private static readonly Lock s_gate = new();
    private static readonly Stack<int> s_freeSlots = new();
    private static SocketPipe?[] s_slots = new SocketPipe?[1024];
    private static int s_slotCount;
    private static int s_epoll = -1;

    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Watches the socket for readability; returns the slot to pass to <see cref="Unregister"/>.</summary>
    public static unsafe int Register(Socket socket, SocketPipe pipe)
    {
        int slot;
        lock (s_gate)
        {
            EnsureStarted();
            slot = s_freeSlots.Count > 0 ? s_freeSlots.Pop() : s_slotCount++;
            if (slot == s_slots.Length)
            {
                var grown = new SocketPipe?[s_slots.Length * 2];
                Array.Copy(s_slots, grown, s_slots.Length);
                Volatile.Write(ref s_slots, grown);
            }
            Volatile.Write(ref s_slots[slot], pipe);
        }
        var ev = new EpollEvent { Events = EpollIn | EpollRdHup | EpollEt, Data = (ulong)slot };
        if (EpollCtl(s_epoll, EpollCtlAdd, (int)socket.SafeHandle.DangerousGetHandle(), &ev) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Release(slot);
            throw new SocketException(error);
        }
        return slot;
    }

    /// <summary>Stops watching (before the socket closes) and frees the slot.</summary>
    public static unsafe void Unregister(Socket socket, int slot)
    {
        var ev = default(EpollEvent);
        _ = EpollCtl(s_epoll, EpollCtlDel, (int)socket.SafeHandle.DangerousGetHandle(), &ev);
        Release(slot);
    }

    private static void Release(int slot)
    {
        lock (s_gate)
        {
            Volatile.Write(ref s_slots[slot], null);
            s_freeSlots.Push(slot);
        }
    }

    private static void EnsureStarted()
    {
        if (s_epoll >= 0)
        {
            return;
        }
        var epoll = EpollCreate1(EpollCloExec);
        if (epoll < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        s_epoll = epoll;
        new Thread(Run) { IsBackground = true, Name = "starling-epoll" }.Start();
    }

    private static unsafe void Run()
    {
        const int Max = 256;
        var events = stackalloc EpollEvent[Max];
        while (true)
        {
            var n = EpollWait(s_epoll, events, Max, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Eintr)
                {
                    continue;
                }
                return;
            }
            var slots = Volatile.Read(ref s_slots);
            for (var i = 0; i < n; i++)
            {
                var slot = (int)events[i].Data;
                if ((uint)slot < (uint)slots.Length)
                {
                    Volatile.Read(ref slots[slot])?.OnReadinessEvent();
                }
            }
        }
    }

    // x86-64 declares struct epoll_event packed: 4-byte events, then the 8-byte data at offset 4 (12 bytes in all).
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    private struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static unsafe partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static unsafe partial int EpollWait(int epfd, EpollEvent* events, int maxEvents, int timeout);
}

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
