using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>
/// Answers a READ on <c>/dev/fuse</c> with a file's bytes moved by splice(2), never copied into the daemon: the reply
/// header is written into a pipe, the file's pages are spliced in after it by reference, and the pipe is spliced into
/// the device, where the kernel copies the pages once into the caller's buffer. A pread into a buffer and a write of
/// it copies them twice (the first at about half the speed of the second here). libfuse does the same for
/// FUSE_BUF_IS_FD buffers.
/// <para>The device takes a reply only whole from the pipe, so the pipe must hold the header and every page of the
/// range at once: 258 slots for 1 MiB at an unaligned offset. Pipes above /proc/sys/fs/pipe-max-size (1 MiB) need
/// CAP_SYS_RESOURCE; without it a range that does not fit goes back to the caller's copying path
/// (<see cref="NotSpliced"/>), as does anything unexpected on the way (a short file), after which the pipe, whose
/// contents are then unknown, is replaced.</para>
/// <para>Never SPLICE_F_MOVE into the device: the kernel could then take a page out of the file's page cache and give
/// it to the caller's file, leaving the source file a hole.</para>
/// </summary>
public sealed unsafe class SplicedFileReply
{
    /// <summary>Returned by <see cref="TrySend"/> when nothing reached the device: answer by copying instead.</summary>
    public const int NotSpliced = int.MinValue;

    /// <summary>Below this the three syscalls of a splice cost more than the copy they save.</summary>
    public const int MinimumLength = 32 * 1024;

    private const int PageSize = 4096;
    private const int F_SETPIPE_SZ = 1031;
    private const uint SPLICE_F_NONBLOCK = 2;
    private const int FIONREAD = 0x541B;

    // One pipe per thread that answers READs: a pipe is a reply in flight, and replies are written by whichever thread
    // the filesystem answers on. The finalizer closes it once its thread has ended.
    [ThreadStatic] private static SplicedFileReply? t_pipe;

    private int _read = -1, _write = -1;
    /// <summary>Pages the pipe holds; 0 until sized.</summary>
    private int _slots;
    /// <summary>The largest size this thread could not get (EPERM without CAP_SYS_RESOURCE): not asked for again.</summary>
    private int _refusedSlots = int.MaxValue;

    private SplicedFileReply() { }

    /// <summary>
    /// The largest READ (in bytes, a whole number of pages) whose reply this process can splice whole, when it is below
    /// <paramref name="largestRead"/>; 0 when pipes here hold a reply of <paramref name="largestRead"/> bytes (or none
    /// at all). A page-aligned READ of the answer fits a pipe with its header; an unaligned one takes the copying path.
    /// </summary>
    public static uint LargestSplicedRead(uint largestRead)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_CLOEXEC) < 0) return 0;
        try
        {
            int wanted = 2 + (int)((largestRead + PageSize - 1) / PageSize);
            if (fcntl(fds[1], F_SETPIPE_SZ, wanted * PageSize) >= 0) return 0;
            int max = (int)MaxPipeBytes();
            int got = max > 0 ? fcntl(fds[1], F_SETPIPE_SZ, max) : -1;
            if (got < 2 * PageSize) return 0;
            return (uint)(got - PageSize); // a slot for the header
        }
        finally
        {
            close(fds[0]);
            close(fds[1]);
        }
    }

    /// <summary>/proc/sys/fs/pipe-max-size: the largest pipe without CAP_SYS_RESOURCE (1 MiB by default).</summary>
    private static long MaxPipeBytes()
    {
        try { return long.Parse(File.ReadAllText("/proc/sys/fs/pipe-max-size").Trim()); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return 1 << 20; }
    }

    ~SplicedFileReply() => Close();

    /// <summary>
    /// Sends request <paramref name="unique"/>'s reply of up to <paramref name="length"/> bytes of <paramref name="fd"/>
    /// from <paramref name="offset"/> (fewer at the file's end) into the device <paramref name="deviceFd"/>. The file
    /// must not change during the call. Returns the data bytes sent, with the device's result in
    /// <paramref name="writeResult"/> (a negated errno when the kernel took no reply), or <see cref="NotSpliced"/> when
    /// nothing was sent.
    /// </summary>
    internal static int TrySend(int deviceFd, ulong unique, int fd, long offset, int length, out int writeResult)
    {
        writeResult = 0;
        if (length < MinimumLength) return NotSpliced;
        var pipe = t_pipe ??= new SplicedFileReply();
        return pipe.Send(deviceFd, unique, fd, offset, length, out writeResult);
    }

    private int Send(int deviceFd, ulong unique, int fd, long offset, int length, out int writeResult)
    {
        writeResult = 0;
        // The header promises the length, so it must be what the file holds now ("fewer at the file's end").
        stat st;
        if (fstat(fd, &st) < 0) return NotSpliced;
        length = (int)Math.Clamp((long)st.st_size - offset, 0, length);
        if (length < MinimumLength) return NotSpliced;
        // The header's slot, and every page the range touches.
        int slots = 1 + (int)(((offset & (PageSize - 1)) + length + PageSize - 1) / PageSize);
        if (!Ready(slots)) return NotSpliced;

        var header = new FuseOutHeader { Len = (uint)(FuseConstants.OutHeaderSize + length), Error = 0, Unique = unique };
        if ((long)write(_write, &header, FuseConstants.OutHeaderSize) != FuseConstants.OutHeaderSize)
        {
            Close();
            return NotSpliced;
        }
        long at = offset;
        int moved = 0;
        while (moved < length)
        {
            nint n = Splice(fd, &at, _write, null, (nuint)(length - moved), SPLICE_F_NONBLOCK);
            if (n > 0) { moved += (int)n; continue; }
            if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
            // The file ended early, or the pipe is full after all: the header promised more than can follow.
            Close();
            return NotSpliced;
        }
        int total = FuseConstants.OutHeaderSize + length;
        while (true)
        {
            nint n = Splice(_read, null, deviceFd, null, (nuint)total, 0);
            if (n >= 0)
            {
                writeResult = (int)n;
                return length;
            }
            int err = Marshal.GetLastPInvokeError();
            if (err == EINTR) continue;
            int left;
            bool known = IoctlInt(_read, FIONREAD, &left) == 0;
            if (known && left == total)
            {
                // Refused before it took anything (ENOMEM, ...): the kernel still waits, so copy it instead.
                Close();
                return NotSpliced;
            }
            // The device took the pipe's buffers and then failed (ENOENT: it no longer waits for the request). Any
            // other remainder is of unknown shape: a fresh pipe for the next reply.
            if (!known || left != 0) Close();
            writeResult = -err;
            return length;
        }
    }

    /// <summary>Opens the pipe and makes it hold at least <paramref name="slots"/> pages.</summary>
    private bool Ready(int slots)
    {
        if (slots <= _slots) return true;
        if (slots >= _refusedSlots) return false;
        if (_read < 0)
        {
            int* fds = stackalloc int[2];
            // Non-blocking: nothing else drains this pipe, so a splice that found it full would wait for ever.
            if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return false;
            (_read, _write) = (fds[0], fds[1]);
            _slots = 0;
        }
        // The kernel rounds the size up to a power of two pages.
        int got = fcntl(_write, F_SETPIPE_SZ, slots * PageSize);
        if (got < 0)
        {
            // EPERM: above pipe-max-size without CAP_SYS_RESOURCE (or over the user's pipe pages), for good.
            if (Marshal.GetLastPInvokeError() == EPERM) _refusedSlots = slots;
            return false;
        }
        _slots = got / PageSize;
        return slots <= _slots;
    }

    private void Close()
    {
        if (_read >= 0) close(_read);
        if (_write >= 0) close(_write);
        _read = _write = -1;
        _slots = 0;
    }

    // Tmds.LibC 0.5.0 has no splice, and its ioctl takes no pointer argument.
    [DllImport("libc", EntryPoint = "splice", SetLastError = true)]
    private static extern nint Splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static extern int IoctlInt(int fd, nuint request, int* arg);
}
