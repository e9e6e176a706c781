using System.Buffers;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Interop;
using static FuseActors.Filesystems.Interop.Native;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// One data-path request handed to a <see cref="HostIoPool"/> thread (or to the device reader that read it:
/// <see cref="ReaderThreadIo"/>): the request itself (it carries its arguments
/// and takes the reply), the open handle(s) it works on, each with a reference held for the call
/// (<see cref="OpenHandle.Acquire"/>), and for a READ what the actor already read from the page cache. A struct
/// queued by value, so handing a request over allocates nothing.
/// </summary>
internal struct IoWork
{
    public FsRequest Request;
    public OpenHandle Handle;
    /// <summary>COPY_FILE_RANGE's output handle; null otherwise.</summary>
    public OpenHandle? Second;
    /// <summary>READ: the rented reply buffer holding <see cref="Done"/> bytes already read without waiting; null when
    /// nothing was read yet.</summary>
    public byte[]? Buffer;
    public int Done;
}

/// <summary>
/// The host calls of the data path (READ, WRITE, FLUSH, FSYNC/FSYNCDIR, FALLOCATE, LSEEK, COPY_FILE_RANGE) on an open
/// handle. They touch nothing but the handle's descriptors and the request, so they run on an I/O pool thread, on a
/// device reader after its mailbox runs (ReaderThreadIo), as well as on the actor's (io-threads = 0, or a host whose
/// data is in memory). Each answers its request. The caller
/// checked the arguments that need no host call (offsets beyond INT64_MAX, an empty read).
/// </summary>
internal static unsafe class HostIo
{
    /// <summary>As <see cref="Run"/>, for the threads that run queued calls (the pool's, a device reader's): a throw is a
    /// bug, not a host error (those are errnos), so it is logged and the request answered EIO, and the thread goes on.</summary>
    public static void RunOrAnswerEio(in IoWork w, AlignedBuffer aligned, ILoggingAdapter log)
    {
        try
        {
            Run(in w, aligned, log);
        }
        catch (Exception e)
        {
            log.Error(e, "host I/O for {Request} threw; answering EIO", w.Request);
            w.Request.Fail(Errno.EIO);
        }
    }

    /// <summary>A queued call that will not run: its request is answered EIO (nothing if it was answered already), its
    /// READ buffer goes back to the pool and the references the actor took for it are dropped.</summary>
    public static void Abandon(in IoWork w)
    {
        if (w.Buffer is { } b) ArrayPool<byte>.Shared.Return(b);
        w.Request.Fail(Errno.EIO);
        w.Handle.Release();
        w.Second?.Release();
    }

    /// <summary>Runs a queued call (on a pool thread or a device reader) and drops the references the actor took for it.</summary>
    public static void Run(in IoWork w, AlignedBuffer aligned, ILoggingAdapter log)
    {
        var r = w.Request;
        try
        {
            if (r.IsInterrupted)
            {
                // Its caller gave up while it waited in the queue (a stalled host holds every thread): do not start it.
                if (w.Buffer is { } b) ArrayPool<byte>.Shared.Return(b);
                r.Fail(Errno.EINTR);
                return;
            }
            switch (r)
            {
                case ReadRequest q: Read(q, w.Handle, w.Buffer, w.Done, aligned); break;
                case WriteRequest q: Write(q, w.Handle, aligned, log); break;
                case FlushRequest q: Flush(q, w.Handle); break;
                case FsyncRequest q: Fsync(q, w.Handle); break;
                case FallocateRequest q: Fallocate(q, w.Handle); break;
                case LseekRequest q: Lseek(q, w.Handle); break;
                case CopyFileRangeRequest q: CopyFileRange(q, w.Handle, w.Second!); break;
                default: r.Fail(Errno.ENOSYS); break;
            }
        }
        finally
        {
            w.Handle.Release();
            w.Second?.Release();
        }
    }

    /// <summary>
    /// READ with waiting allowed: continues after the <paramref name="done"/> bytes already in
    /// <paramref name="buffer"/> until the request is full or the host says end of file. A reply shorter than asked
    /// means end of file to the kernel (it may even shrink its idea of the file's size), so a short host read is read
    /// on from where it stopped, and an error after some bytes fails the request rather than answer them short. For a
    /// file in memory, with nothing read yet, a READ of 32 KiB or more is answered by the engine from the file itself
    /// (<see cref="ReadRequest.ReplyFromFile"/>, which reads on to the end of the request or of the file the same way).
    /// </summary>
    public static void Read(ReadRequest r, OpenHandle h, byte[]? buffer, int done, AlignedBuffer aligned)
    {
        int size = (int)r.Size;
        long offset = (long)r.Offset;
        // A file in memory (tmpfs, ramfs): the engine answers from the file itself (spliced into /dev/fuse, read straight
        // into the ring entry over io_uring), with no copy through a buffer of ours. ReplyFromFile takes the reply before it
        // reads, so a read that hangs (a stalled server, a failing disk) could no longer be answered by the engine's
        // timeout or after an interrupt: of the reads made here only those, and the reads in place on a ring's own thread
        // below, whose wait is bounded too; the others take the reply after the read. (PassthroughFs.Read does the same on
        // the actor for a local disk's range the host holds whole.)
        if (h.InMemory && !h.Direct && size >= PassthroughFs.FromFileMinimum)
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            r.ReplyFromFile(h.Fd, offset, size);
            return;
        }
        // Over io_uring, on the thread of the request's own queue (ReaderThreadIo), a read of a local disk's file of which
        // nothing was read yet (a buffered one found nothing in the host's page cache, or the host has no RWF_NOWAIT) lands
        // in the ring entry itself (page-aligned), with no copy after it: O_DIRECT from the device, buffered through the
        // host's page cache. Only there: the reply is taken during the read, so the engine could not answer it after a
        // timeout or an interrupt meanwhile, and on that thread it could not anyway (that thread commits the queue's
        // replies, and it is busy in the read); and only a local disk's read, whose wait is bounded. A fill that refuses
        // (an O_DIRECT read cut short at the end of the file, unaligned I/O, any error) is read again below, which knows
        // what to make of it. (ReplyFromFile would read the same way, but takes the reply for good: a refusal could not
        // fall back.)
        if (done == 0 && h.LocalDevice && r.OnItsIoUringQueueThread &&
            (h.Direct
                ? r.TryReplyInPlace(new DirectRead(h, offset), ReadDirectInPlace)
                : r.TryReplyInPlace(new BufferedRead(h.Fd, offset), ReadBufferedInPlace)))
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        buffer ??= ArrayPool<byte>.Shared.Rent(size);
        var error = Errno.Ok;
        bool finished = false;
        nint n;
        if (h.Direct && done == 0)
        {
            // O_DIRECT on the host: the read lands in the aligned buffer, then goes out in the pooled one. A short
            // O_DIRECT read is usually end of file, but a host that serves O_DIRECT from its page cache (ext4
            // data=journal, inline data, btrfs compressed extents) may stop short too: the buffered twin goes on and
            // says which (0: end of file).
            byte* a = aligned.Get(size);
            do n = pread(h.Fd, a, (nuint)size, offset);
            while (n < 0 && LastError() == Errno.EINTR);
            if (n >= 0)
            {
                new ReadOnlySpan<byte>(a, (int)n).CopyTo(buffer);
                done = (int)n;
                finished = n == 0 || n == size;
            }
            else if (LastError() is var e && e != Errno.EINVAL) error = e;
            // EINVAL: not aligned for O_DIRECT: the buffered twin below reads it.
        }
        if (!finished && error == Errno.Ok)
        {
            int fd = h.Direct ? h.BufferedFd : h.Fd;
            fixed (byte* p = buffer)
            {
                while (done < size)
                {
                    n = pread(fd, p + done, (nuint)(size - done), offset + done);
                    if (n > 0) done += (int)n;
                    else if (n == 0) break; // end of file
                    else if (LastError() is var e && e != Errno.EINTR) { error = e; break; }
                }
            }
        }
        if (error != Errno.Ok)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            r.Fail(error);
            return;
        }
        // False: the engine answered first (timeout, interrupt grace; this late reply goes to the connection, which
        // returns the buffer), or the actor stopped and answered EIO (the buffer is then the GC's: ArrayPool.Shared
        // does not need its arrays back).
        r.ReplyPooled(buffer, done);
    }

    private readonly record struct DirectRead(OpenHandle Handle, long Offset);

    /// <summary>An O_DIRECT read into the transport's own reply buffer: whole, or nothing at all at the end of the file.
    /// Anything else (a short read, an error, EINVAL for unaligned I/O) is refused, and the read made again the usual
    /// way (<see cref="Read"/>), which knows what to make of it.</summary>
    private static readonly InPlaceFill<DirectRead> ReadDirectInPlace = static (read, buffer) =>
    {
        fixed (byte* p = buffer)
        {
            if (((nuint)p & (AlignedBuffer.Alignment - 1)) != 0) return -1;
            nint n;
            do n = pread(read.Handle.Fd, p, (nuint)buffer.Length, read.Offset);
            while (n < 0 && LastError() == Errno.EINTR);
            return n == buffer.Length || n == 0 ? (int)n : -1;
        }
    };

    private readonly record struct BufferedRead(int Fd, long Offset);

    /// <summary>A buffered read into the transport's own reply buffer: until it is full or the file ends (a buffered read
    /// of a local file stops short only there). An error is refused, and <see cref="Read"/> reads again and answers it.</summary>
    private static readonly InPlaceFill<BufferedRead> ReadBufferedInPlace = static (read, buffer) =>
    {
        int n = FileRead.Fully(read.Fd, buffer, read.Offset);
        return n >= 0 ? n : -1;
    };

    /// <summary>The memory alignment an O_DIRECT write's buffer gets from us (a page: any device's logical block fits).</summary>
    private const nuint DirectIoAlignment = AlignedBuffer.Alignment;

    private static long s_alignedCopies;

    /// <summary>O_DIRECT WRITEs whose data had to be copied into an aligned buffer first (its memory was not page-aligned).</summary>
    internal static long AlignedCopies => Interlocked.Read(ref s_alignedCopies);

    public static void Write(WriteRequest r, OpenHandle h, AlignedBuffer aligned, ILoggingAdapter log)
    {
        // The data is leased for the host call alone (over io_uring, on the queue's thread, straight from the ring entry);
        // the answer goes after the lease ends.
        int done;
        Errno error;
        using (var lease = r.LeaseData()) error = WriteLeased(r, lease.Span, h, aligned, log, out done);
        if (error != Errno.Ok) r.Fail(error);
        else r.Reply((uint)done);
    }

    private static Errno WriteLeased(WriteRequest r, ReadOnlySpan<byte> data, OpenHandle h, AlignedBuffer aligned, ILoggingAdapter log, out int done)
    {
        done = 0;
        // A write from the kernel's page cache (writeback cache, a shared mapping's dirty pages) has its place in the
        // file: an O_APPEND host descriptor (the caller's open had O_APPEND) would put it at the end instead.
        bool fromCache = (r.WriteFlags & WriteFlags.Cache) != 0;
        fixed (byte* pinned = data)
        {
            byte* p = pinned;
            if (h.Direct && ((nuint)pinned & (DirectIoAlignment - 1)) != 0)
            {
                // O_DIRECT on the host wants an aligned buffer. The engine reads every WRITE (from /dev/fuse, io_uring or
                // a virtual device) so that its data starts on a page boundary (RequestBufferPool.ReadStart), so this
                // copy is for requests built elsewhere (by hand, as the unit-test kit does).
                p = aligned.Get(data.Length);
                data.CopyTo(new Span<byte>(p, data.Length));
                Interlocked.Increment(ref s_alignedCopies);
            }
            int fd = h.Fd;
            while (done < data.Length)
            {
                nint n = fromCache
                    ? WriteAtOffset(fd, p + done, (nuint)(data.Length - done), (long)r.Offset + done)
                    : pwrite(fd, p + done, (nuint)(data.Length - done), (long)r.Offset + done);
                // (through the buffered descriptor: an O_DIRECT one would refuse the comparing read's unaligned buffer)
                if (n < 0 && fromCache && LastError() == Errno.EPERM)
                    n = WriteToAppendOnly(h.Direct ? h.BufferedFd : fd, p + done, data.Length - done, (long)r.Offset + done, log);
                if (n < 0)
                {
                    var e = LastError();
                    if (e == Errno.EINTR) continue;
                    if (e == Errno.EINVAL && fd == h.Fd && h.Direct)
                    {
                        // Not aligned for O_DIRECT: the rest goes through the file's buffered descriptor.
                        fd = h.BufferedFd;
                        continue;
                    }
                    // Never a short count: the kernel turns a short reply to an O_DIRECT (async) write into EIO, so a
                    // host that fills after part of the data (ENOSPC, EDQUOT, EFBIG) answers with its errno.
                    if (done > 0) log.Warning("write of {Length} bytes at {Offset} failed on the host after {Written}: {Error}", data.Length, r.Offset, done, e);
                    return e;
                }
                if (n == 0) return Errno.EIO; // pwrite never returns 0 for a non-empty write
                done += (int)n;
            }
        }
        return Errno.Ok;
    }

    private static int s_noAppend = RWF_NOAPPEND; // 0 once the kernel said it has no RWF_NOAPPEND (before 6.9)

    /// <summary>Whether a write from the kernel's page cache lands at its offset on an O_APPEND host descriptor too
    /// (pwritev2's RWF_NOAPPEND, Linux 6.9+; an append-only host file refuses it: see <see cref="WriteToAppendOnly"/>).</summary>
    public static bool WritesAtOffsetOnAppend { get; } = Environment.OSVersion.Version >= new Version(6, 9);

    /// <summary>pwrite at <paramref name="offset"/> whatever O_APPEND says (pwritev2 with RWF_NOAPPEND); a plain pwrite
    /// on kernels before 6.9, which then append on an O_APPEND descriptor as libfuse's examples do.</summary>
    private static nint WriteAtOffset(int fd, byte* p, nuint length, long offset)
    {
        if (Volatile.Read(ref s_noAppend) != 0)
        {
            var iov = new Iovec { Base = p, Length = length };
            nint n = pwritev2(fd, &iov, 1, offset, RWF_NOAPPEND);
            if (n >= 0 || LastError() != Errno.EOPNOTSUPP) return n;
            Volatile.Write(ref s_noAppend, 0);
        }
        return pwrite(fd, p, length, offset);
    }

    /// <summary>
    /// A write from the kernel's page cache to an append-only host file (chattr +a), which refuses a write at an
    /// offset (RWF_NOAPPEND) with EPERM. The kernel writes back whole pages, so a page holding an append starts with
    /// bytes the file already has: where those bytes are the host's own, only the rest is appended (the O_APPEND
    /// descriptor puts it at the end, which is then its offset). A write that would change bytes already there, or
    /// leave a hole (a later page written back before an earlier one), fails with EPERM as the host says. Not atomic
    /// against a host process appending to the file meanwhile. Returns the bytes written, or -1 with errno set.
    /// </summary>
    private static nint WriteToAppendOnly(int fd, byte* p, int length, long offset, ILoggingAdapter log)
    {
        Statx st;
        if (statx(fd, EmptyPath, AT_EMPTY_PATH, STATX_SIZE, &st) < 0) return Refuse("its size could not be read");
        long size = (long)st.Size;
        int overlap = (int)Math.Min(length, Math.Max(0, size - offset));
        if (offset > size) return Refuse("it would leave a hole");
        if (overlap > 0)
        {
            byte[] have = ArrayPool<byte>.Shared.Rent(overlap);
            try
            {
                if (FileRead.Fully(fd, have.AsSpan(0, overlap), offset) != overlap) return Refuse("its bytes there could not be read");
                if (!have.AsSpan(0, overlap).SequenceEqual(new ReadOnlySpan<byte>(p, overlap))) return Refuse("it would change bytes the file has");
            }
            finally { ArrayPool<byte>.Shared.Return(have); }
        }
        int done = overlap;
        while (done < length)
        {
            nint n = pwrite(fd, p + done, (nuint)(length - done), offset + done); // O_APPEND: at the end, which is there
            if (n < 0 && LastError() == Errno.EINTR) continue;
            if (n <= 0) return done > overlap ? done : -1;
            done += (int)n;
        }
        return done;

        nint Refuse(string why)
        {
            log.Warning("a write back of {Length} bytes at {Offset} refused by the host (EPERM: an append-only file?): {Why}", length, offset, why);
            System.Runtime.InteropServices.Marshal.SetLastPInvokeError((int)Errno.EPERM);
            return -1;
        }
    }

    public static void Flush(FlushRequest r, OpenHandle h)
    {
        // close(dup(fd)), as libfuse does: the host sees a close of this open file (POSIX lock release, NFS
        // write-back errors) while our handle stays open until RELEASE.
        int d = dup(h.Fd);
        if (d < 0) { r.Fail(LastError()); return; }
        if (close(d) < 0) { r.Fail(LastError()); return; }
        r.Reply();
    }

    public static void Fsync(FsyncRequest r, OpenHandle h)
    {
        int rc = r.DataSync ? fdatasync(h.Fd) : fsync(h.Fd);
        if (rc < 0) { r.Fail(LastError()); return; }
        r.Reply();
    }

    public static void Fallocate(FallocateRequest r, OpenHandle h)
    {
        if (fallocate(h.Fd, (int)r.Mode, (long)r.Offset, (long)r.Length) < 0) { r.Fail(LastError()); return; }
        r.Reply();
    }

    public static void Lseek(LseekRequest r, OpenHandle h)
    {
        // SEEK_DATA/SEEK_HOLE: the answer is the returned offset; the descriptor's own position is never used for I/O.
        long pos = lseek(h.Fd, (long)r.Offset, (int)r.Whence);
        if (pos < 0) { r.Fail(LastError()); return; }
        r.Reply((ulong)pos);
    }

    public static void CopyFileRange(CopyFileRangeRequest r, OpenHandle input, OpenHandle output)
    {
        // The old reply carries a 32-bit count; the host may copy less than asked, the caller loops.
        ulong length = Math.Min(r.Length, r.Is64 ? long.MaxValue : 0xFFFFF000UL);
        long offIn = (long)r.OffsetIn, offOut = (long)r.OffsetOut;
        nint n = copy_file_range(input.Fd, &offIn, output.Fd, &offOut, (nuint)length, (uint)r.Flags);
        if (n < 0) { r.Fail(LastError()); return; }
        r.Reply((ulong)n);
    }
}
