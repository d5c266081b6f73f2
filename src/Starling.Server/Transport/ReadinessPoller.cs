using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Starling.Server.Transport;

/// <summary>
/// One epoll set and one thread that tell <see cref="SocketPipe"/>s when their socket became readable (edge-triggered),
/// so an idle connection waits without any pending .NET socket operation: no <c>SocketAsyncEventArgs</c>, no
/// per-socket async context (about 600 bytes per connection). Linux x64 only (the packed <c>epoll_event</c> layout);
/// elsewhere <see cref="IsSupported"/> is false and plain TCP listeners run on Kestrel.
/// <para>
/// One per <see cref="StarlingServer"/> (not per process: two servers in one process have their own sets, threads and
/// slot tables), shared by its <see cref="SocketListener"/>s. The epoll set and its thread are created on the first
/// <see cref="Register"/>, so a server without Starling's own transport has neither; <see cref="Dispose"/> wakes the
/// thread through an eventfd in the set, and the thread closes both descriptors on its way out.
/// </para>
/// Events carry a slot number; a slot reused by a newer socket may get a stale event, which only costs that socket a
/// receive that finds nothing (pipes treat every event as a hint).
/// </summary>
internal sealed partial class ReadinessPoller : IDisposable
{
    private const int EpollCloExec = 0x80000;
    private const int EfdCloExec = 0x80000;
    private const int EpollCtlAdd = 1;
    private const int EpollCtlDel = 2;
    private const uint EpollIn = 0x001;
    private const uint EpollRdHup = 0x2000;
    private const uint EpollEt = 1u << 31;
    private const int Eintr = 4;
    // The event data of the eventfd that Dispose writes to: never a slot number.
    private const ulong StopData = ulong.MaxValue;

    private readonly Lock _gate = new();
    private readonly Stack<int> _freeSlots = new();
    private SocketPipe?[] _slots = new SocketPipe?[1024];
    private int _slotCount;
    // Both -1 until the first Register; under _gate. _disposed: no new registration, no epoll_ctl on a closed set.
    private int _epoll = -1;
    private int _stopEvent = -1;
    private bool _disposed;

    /// <summary>Whether this platform has the poller (Linux x64); elsewhere plain TCP listeners use Kestrel.</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Watches the socket for readability; returns the slot to pass to <see cref="Unregister"/>.</summary>
    public unsafe int Register(Socket socket, SocketPipe pipe)
    {
        int slot;
        int epoll;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            EnsureStarted();
            epoll = _epoll;
            slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _slotCount++;
            if (slot == _slots.Length)
            {
                var grown = new SocketPipe?[_slots.Length * 2];
                Array.Copy(_slots, grown, _slots.Length);
                Volatile.Write(ref _slots, grown);
            }
            Volatile.Write(ref _slots[slot], pipe);
        }
        var ev = new EpollEvent { Events = EpollIn | EpollRdHup | EpollEt, Data = (ulong)slot };
        if (EpollCtl(epoll, EpollCtlAdd, (int)socket.SafeHandle.DangerousGetHandle(), &ev) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            Release(slot);
            throw new SocketException(error);
        }
        return slot;
    }

    /// <summary>Stops watching (before the socket closes) and frees the slot.</summary>
    public unsafe void Unregister(Socket socket, int slot)
    {
        lock (_gate)
        {
            // After Dispose the set is closed (its number may belong to another file by now): the socket's own close
            // takes it out of the set anyway.
            if (!_disposed)
            {
                var ev = default(EpollEvent);
                _ = EpollCtl(_epoll, EpollCtlDel, (int)socket.SafeHandle.DangerousGetHandle(), &ev);
            }
            ReleaseLocked(slot);
        }
    }

    private void Release(int slot)
    {
        lock (_gate)
        {
            ReleaseLocked(slot);
        }
    }

    private void ReleaseLocked(int slot)
    {
        Volatile.Write(ref _slots[slot], null);
        _freeSlots.Push(slot);
    }

    private unsafe void EnsureStarted()
    {
        if (_epoll >= 0)
        {
            return;
        }
        var epoll = EpollCreate1(EpollCloExec);
        if (epoll < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
        var stopEvent = EventFd(0, EfdCloExec);
        var ev = new EpollEvent { Events = EpollIn, Data = StopData };
        if (stopEvent < 0 || EpollCtl(epoll, EpollCtlAdd, stopEvent, &ev) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            _ = Close(epoll);
            if (stopEvent >= 0)
            {
                _ = Close(stopEvent);
            }
            throw new SocketException(error);
        }
        _epoll = epoll;
        _stopEvent = stopEvent;
        new Thread(Run) { IsBackground = true, Name = "starling-epoll" }.Start((epoll, stopEvent));
    }

    private unsafe void Run(object? state)
    {
        var (epoll, stopEvent) = ((int, int))state!;
        const int Max = 256;
        var events = stackalloc EpollEvent[Max];
        while (true)
        {
            var n = EpollWait(epoll, events, Max, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == Eintr)
                {
                    continue;
                }
                break;
            }
            var slots = Volatile.Read(ref _slots);
            var stop = false;
            for (var i = 0; i < n; i++)
            {
                var data = events[i].Data;
                if (data == StopData)
                {
                    stop = true;
                }
                else if (data < (ulong)slots.Length)
                {
                    Volatile.Read(ref slots[(int)data])?.OnReadinessEvent();
                }
            }
            if (stop)
            {
                break;
            }
        }
        // Dispose has marked the poller disposed before waking this thread: nobody uses the set any more.
        _ = Close(epoll);
        _ = Close(stopEvent);
    }

    /// <summary>
    /// Stops the thread and closes the set. Sockets still registered (lingering closes) get no more events; their
    /// linger timer closes them.
    /// </summary>
    public unsafe void Dispose()
    {
        int stopEvent;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            stopEvent = _stopEvent;
        }
        if (stopEvent >= 0)
        {
            ulong one = 1;
            _ = Write(stopEvent, &one, sizeof(ulong));
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

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initval, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, void* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
