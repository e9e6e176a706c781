using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>An open <c>/dev/fuse</c> descriptor: plain read(2) and writev(2), no buffering; READ replies from a file by
/// splice(2) (<see cref="SplicedFileReply"/>).
/// <para>
/// Every call on it holds a reference to the descriptor (a SafeHandle) for as long as its syscall runs, and Dispose
/// closes it only when the last such call has returned. Without that, a reply written on one thread while another
/// disposed the device could reach a file that had just been given the same number: a host file the filesystem opened,
/// which would get the reply's bytes. A read blocked in the kernel keeps the descriptor open too, as the kernel itself
/// does (close(2) does not end a read in progress); the unmount or abort that ends the read then lets it close.
/// </para></summary>
public sealed unsafe class LinuxFuseDevice : ICloneableFuseDevice, IPassthroughDevice, IRequestQueueProbe, IFileReplyDevice
{
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _handle;
    private readonly int _number;
    // Set by Dispose before it lets go of the handle: SafeHandle's own reference still succeeds after Dispose while a
    // call holds one (only the final close stops it), so calls that begin later are refused here.
    private volatile bool _disposed;

    private LinuxFuseDevice(int fd)
    {
        _number = fd;
        _handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>The descriptor's number, for mount(2)'s <c>fd=</c> option and the io_uring commands: valid only while the
    /// device is open.</summary>
    public int Fd => _number;

    /// <summary>Takes a reference to the descriptor for one call: false once disposed (answer ENODEV). A true result must be
    /// followed by <see cref="Release"/>.</summary>
    private bool TryAcquire()
    {
        if (_disposed) return false;
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            // Closed between the check and the reference: only in that race, never on a served request.
        }
        if (added && _disposed)
        {
            // Disposed between the check and the reference: the descriptor may still be open for another call, not this one.
            _handle.DangerousRelease();
            return false;
        }
        return added;
    }

    private void Release() => _handle.DangerousRelease();

    /// <summary>
    /// How long a read keeps polling the device (non-blocking) before it sleeps in the kernel. A caller that sends its
    /// next request within this window finds the reader still running on its vCPU instead of paying for a wake-up
    /// (~40 µs on these VMs). Zero reads blocking, which costs no CPU while idle.
    /// </summary>
    public TimeSpan SpinBeforeBlocking
    {
        get => TimeSpan.FromTicks(_spinTicks * TimeSpan.TicksPerSecond / System.Diagnostics.Stopwatch.Frequency);
        set
        {
            _spinTicks = (long)(value.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            if (!TryAcquire()) return;
            try
            {
                int flags = fcntl(_number, F_GETFL);
                fcntl(_number, F_SETFL, _spinTicks > 0 ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
            }
            finally { Release(); }
        }
    }

    private long _spinTicks;
    private long _splicedReplies;

    /// <summary>READ replies spliced from a file (<see cref="ReplyFromFile"/>).</summary>
    public long SplicedReplies => Interlocked.Read(ref _splicedReplies);
    public string Name => $"/dev/fuse fd {_number}";

    /// <summary>Opens <c>/dev/fuse</c>. Throws <see cref="FuseDeviceException"/> with the errno when it cannot.</summary>
    public static LinuxFuseDevice Open()
    {
        fixed (byte* path = "/dev/fuse\0"u8)
        {
            int fd = open(path, O_RDWR | O_CLOEXEC);
            if (fd < 0)
                throw new FuseDeviceException((Errno)errno, "cannot open /dev/fuse");
            return new LinuxFuseDevice(fd);
        }
    }

    /// <summary>Takes ownership of an already open /dev/fuse descriptor (e.g. one fusermount3 sent).</summary>
    public static LinuxFuseDevice FromFd(int fd) => new(fd);

    public IFuseDevice Clone()
    {
        if (!TryAcquire()) throw new FuseDeviceException(Errno.ENODEV, "FUSE_DEV_IOC_CLONE of a closed device");
        try
        {
            var clone = Open();
            uint source = (uint)_number;
            if (Ioctl(clone._number, FuseConstants.DevIocClone, &source) < 0)
            {
                var err = (Errno)Marshal.GetLastPInvokeError();
                clone.Dispose();
                throw new FuseDeviceException(err, "FUSE_DEV_IOC_CLONE failed");
            }
            return clone;
        }
        finally { Release(); }
    }

    public int OpenBacking(int fd)
    {
        if (!TryAcquire()) return -(int)Errno.ENODEV;
        try
        {
            var map = new FuseBackingMap { Fd = fd };
            int id = Ioctl(_number, FuseConstants.DevIocBackingOpen, &map);
            return id < 0 ? -Marshal.GetLastPInvokeError() : id;
        }
        finally { Release(); }
    }

    public int CloseBacking(int backingId)
    {
        if (!TryAcquire()) return -(int)Errno.ENODEV;
        try
        {
            uint id = (uint)backingId;
            return Ioctl(_number, FuseConstants.DevIocBackingClose, &id) < 0 ? -Marshal.GetLastPInvokeError() : 0;
        }
        finally { Release(); }
    }

    public int Read(Span<byte> buffer)
    {
        if (!TryAcquire()) return -(int)Errno.ENODEV;
        try
        {
            return ReadHeld(buffer);
        }
        finally { Release(); }
    }

    private int ReadHeld(Span<byte> buffer)
    {
        int fd = _number;
        fixed (byte* p = buffer)
        {
            long spinUntil = _spinTicks > 0 ? System.Diagnostics.Stopwatch.GetTimestamp() + _spinTicks : 0;
            while (true)
            {
                ssize_t n = read(fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                int err = errno;
                if (err == EINTR) continue;
                if (err != EAGAIN || _spinTicks == 0) return -err;
                if (_disposed) return -(int)Errno.ENODEV; // disposed while it spun
                if (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil) continue;
                // Nothing came while spinning: sleep in poll until a request (or the end of the connection) arrives.
                var pfd = new pollfd { fd = fd, events = POLLIN };
                if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -errno;
                if (_disposed) return -(int)Errno.ENODEV; // disposed while it slept: the loop ends here
                spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + _spinTicks;
            }
        }
    }

    /// <summary>poll(2) with no wait: the device is readable while the connection's input queue holds requests (the
    /// queue all clones share).</summary>
    public bool RequestsWaiting()
    {
        if (!TryAcquire()) return false;
        try
        {
            var pfd = new pollfd { fd = _number, events = POLLIN };
            return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0;
        }
        finally { Release(); }
    }

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        if (!TryAcquire()) return -(int)Errno.ENODEV;
        try
        {
            return WriteHeld(head, payload);
        }
        finally { Release(); }
    }

    private int WriteHeld(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        fixed (byte* h = head)
        fixed (byte* p = payload)
        {
            var iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = h, Len = (nuint)head.Length };
            iov[1] = new IoVec { Base = p, Len = (nuint)payload.Length };
            while (true)
            {
                nint n = writev(_number, iov, payload.Length == 0 ? 1 : 2);
                if (n >= 0) return (int)n;
                int err = Marshal.GetLastPInvokeError();
                if (err == EINTR) continue;
                return -err;
            }
        }
    }

    /// <summary>Splices the file's pages into the device where the pipe can hold the reply (see
    /// <see cref="SplicedFileReply"/>); otherwise reads them into a pooled buffer and writes that.</summary>
    public int ReplyFromFile(ulong unique, int fd, long offset, int length, out int writeResult)
    {
        if (!TryAcquire())
        {
            writeResult = -(int)Errno.ENODEV;
            return -(int)Errno.ENODEV;
        }
        try
        {
            return ReplyFromFileHeld(unique, fd, offset, length, out writeResult);
        }
        finally { Release(); }
    }

    private int ReplyFromFileHeld(ulong unique, int fd, long offset, int length, out int writeResult)
    {
        int sent = SplicedFileReply.TrySend(_number, unique, fd, offset, length, out writeResult);
        if (sent != SplicedFileReply.NotSpliced)
        {
            Interlocked.Increment(ref _splicedReplies);
            return sent;
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int got = FileRead.Fully(fd, buffer.AsSpan(0, length), offset);
            var header = new FuseOutHeader
            {
                Len = (uint)(FuseConstants.OutHeaderSize + Math.Max(got, 0)),
                Error = got < 0 ? got : 0,
                Unique = unique,
            };
            var head = new ReadOnlySpan<byte>(&header, FuseConstants.OutHeaderSize);
            writeResult = WriteHeld(head, got < 0 ? default : buffer.AsSpan(0, got));
            return got;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Closes the descriptor once no call holds it (at once when none runs).</summary>
    public void Dispose()
    {
        _disposed = true;
        _handle.Dispose();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public byte* Base; public nuint Len; }

    // Tmds.LibC 0.5.0 has no writev; one gathered write keeps a reply's header and payload in one syscall without a copy.
    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    internal static extern int Ioctl(int fd, nuint request, void* arg);

    [DllImport("libc", SetLastError = true)]
    private static extern nint writev(int fd, IoVec* iov, int iovcnt);
}

/// <summary>A syscall on the FUSE device or mount failed; <see cref="Errno"/> says why.</summary>
public sealed class FuseDeviceException : Exception
{
    /// <summary>"<paramref name="message"/>: ERRNO (its text)".</summary>
    public FuseDeviceException(Errno errno, string message)
        : base($"{message}: {errno} ({Marshal.GetPInvokeErrorMessage((int)errno)})") => Errno = errno;

    private FuseDeviceException(Errno errno, string message, bool _) : base(message) => Errno = errno;

    /// <summary>An exception whose message is <paramref name="message"/> as it is (e.g. fusermount3's own words).</summary>
    public static FuseDeviceException WithMessage(Errno errno, string message) => new(errno, message, true);

    public Errno Errno { get; }
}
