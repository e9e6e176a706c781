using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>An open <c>/dev/fuse</c> descriptor: plain read(2) and writev(2), no buffering; READ replies from a file by
/// splice(2) (<see cref="SplicedFileReply"/>).</summary>
public sealed unsafe class LinuxFuseDevice : ICloneableFuseDevice, IPassthroughDevice, IRequestQueueProbe, IFileReplyDevice
{
    private int _fd;

    private LinuxFuseDevice(int fd) => _fd = fd;

    public int Fd => _fd;

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
            int flags = fcntl(_fd, F_GETFL);
            fcntl(_fd, F_SETFL, _spinTicks > 0 ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
        }
    }

    private long _spinTicks;
    private long _splicedReplies;

    /// <summary>READ replies spliced from a file (<see cref="ReplyFromFile"/>).</summary>
    public long SplicedReplies => Interlocked.Read(ref _splicedReplies);
    public string Name => $"/dev/fuse fd {_fd}";

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
        var clone = Open();
        uint source = (uint)_fd;
        if (Ioctl(clone._fd, FuseConstants.DevIocClone, &source) < 0)
        {
            var err = (Errno)Marshal.GetLastPInvokeError();
            clone.Dispose();
            throw new FuseDeviceException(err, "FUSE_DEV_IOC_CLONE failed");
        }
        return clone;
    }

    public int OpenBacking(int fd)
    {
        var map = new FuseBackingMap { Fd = fd };
        int id = Ioctl(_fd, FuseConstants.DevIocBackingOpen, &map);
        return id < 0 ? -Marshal.GetLastPInvokeError() : id;
    }

    public int CloseBacking(int backingId)
    {
        uint id = (uint)backingId;
        return Ioctl(_fd, FuseConstants.DevIocBackingClose, &id) < 0 ? -Marshal.GetLastPInvokeError() : 0;
    }

    public int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            long spinUntil = _spinTicks > 0 ? System.Diagnostics.Stopwatch.GetTimestamp() + _spinTicks : 0;
            while (true)
            {
                ssize_t n = read(_fd, p, buffer.Length);
                if (n >= 0) return (int)n;
                int err = errno;
                if (err == EINTR) continue;
                if (err != EAGAIN || _spinTicks == 0) return -err;
                if (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil) continue;
                // Nothing came while spinning: sleep in poll until a request (or the end of the connection) arrives.
                var pfd = new pollfd { fd = _fd, events = POLLIN };
                if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -errno;
                spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + _spinTicks;
            }
        }
    }

    /// <summary>poll(2) with no wait: the device is readable while the connection's input queue holds requests (the
    /// queue all clones share).</summary>
    public bool RequestsWaiting()
    {
        int fd = Volatile.Read(ref _fd);
        if (fd < 0) return false;
        var pfd = new pollfd { fd = fd, events = POLLIN };
        return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) != 0;
    }

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        fixed (byte* h = head)
        fixed (byte* p = payload)
        {
            var iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = h, Len = (nuint)head.Length };
            iov[1] = new IoVec { Base = p, Len = (nuint)payload.Length };
            while (true)
            {
                nint n = writev(_fd, iov, payload.Length == 0 ? 1 : 2);
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
        int fdNow = Volatile.Read(ref _fd);
        if (fdNow < 0)
        {
            writeResult = -(int)Errno.ENODEV;
            return -(int)Errno.ENODEV;
        }
        int sent = SplicedFileReply.TrySend(fdNow, unique, fd, offset, length, out writeResult);
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
            writeResult = Write(head, got < 0 ? default : buffer.AsSpan(0, got));
            return got;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) close(fd);
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
