using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Interop;
using static FuseActors.Filesystems.Interop.Native;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>
/// The contents of a large regular file in a memfd: anonymous shared memory the kernel keeps in its page cache
/// (like a tmpfs file), read and written with pread/pwrite. The bytes count against the machine's memory but not
/// against the daemon's resident set or its GC heap, and the kernel does the sparse bookkeeping: holes, SEEK_DATA,
/// SEEK_HOLE and punching holes are the shmem filesystem's own. The memfd's size is always <see cref="Size"/>.
/// Not thread-safe: the owning actor serialises access.
/// </summary>
internal sealed unsafe class MemfdData : IDisposable
{
    private const uint MFD_CLOEXEC = 1;
    private const int FALLOC_FL_KEEP_SIZE = 1;
    private const int FALLOC_FL_PUNCH_HOLE = 2;
    private const int SEEK_DATA = 3;
    private const int SEEK_HOLE = 4;
    private const uint STATX_BLOCKS = 0x400;
    private const int PageSize = 4096;

    private readonly int _fd;
    private long _allocated;
    private bool _allocatedKnown = true;
    private bool _disposed;

    private MemfdData(int fd) => _fd = fd;

    /// <summary>A new empty memfd, or the errno memfd_create failed with (EMFILE when the daemon is out of descriptors).</summary>
    public static Errno TryCreate(out MemfdData? data)
    {
        int fd;
        fixed (byte* name = "memfs"u8) fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
        {
            data = null;
            return LastError();
        }
        data = new MemfdData(fd);
        return Errno.Ok;
    }

    /// <summary>The descriptor (for a backing file of kernel passthrough, or for tests).</summary>
    public int Fd => _fd;

    public long Size { get; private set; }

    /// <summary>Bytes the kernel has allocated to the memfd (st_blocks × 512), asked for only after a change.</summary>
    public long AllocatedBytes
    {
        get
        {
            if (_allocatedKnown) return _allocated;
            Statx st;
            if (statx(_fd, EmptyPath, AT_EMPTY_PATH, STATX_BLOCKS, &st) == 0) _allocated = (long)st.Blocks * 512;
            _allocatedKnown = true;
            return _allocated;
        }
    }

    /// <summary>Copies up to <c>dest.Length</c> bytes from <paramref name="offset"/>; returns how many (short at EOF),
    /// or a negative errno.</summary>
    public int Read(long offset, Span<byte> dest)
    {
        if (offset < 0 || offset >= Size) return 0;
        int n = (int)Math.Min(dest.Length, Size - offset);
        int done = 0;
        fixed (byte* p = dest)
        {
            while (done < n)
            {
                nint got = pread(_fd, p + done, (nuint)(n - done), offset + done);
                if (got < 0)
                {
                    var e = LastError();
                    if (e == Errno.EINTR) continue;
                    return -(int)e;
                }
                if (got == 0) break; // cannot happen while the memfd's size is Size; zeros below keep the contract
                done += (int)got;
            }
        }
        if (done < n) dest[done..n].Clear();
        return n;
    }

    /// <summary>A cheap upper bound of the bytes a write of this range could newly allocate: all its pages.
    /// Asking the kernel which of them are holes (<see cref="ExactGrowthFor"/>) walks the page cache from the offset
    /// on, so it is kept for writes that the bound says might not fit.</summary>
    public static long GrowthFor(long offset, long length) =>
        length <= 0 ? 0 : ((offset + length + PageSize - 1) & ~(long)(PageSize - 1)) - (offset & ~(long)(PageSize - 1));

    /// <summary>The bytes a write of this range would newly allocate: its pages that are holes now.</summary>
    public long ExactGrowthFor(long offset, long length)
    {
        if (length <= 0) return 0;
        long start = offset & ~(long)(PageSize - 1);
        long end = offset + length;
        long growth = 0;
        long pos = start;
        while (pos < end)
        {
            long hole = pos < Size ? lseek(_fd, pos, SEEK_HOLE) : pos;
            if (hole < 0 || hole >= end) break;
            long data = hole < Size ? lseek(_fd, hole, SEEK_DATA) : -1;
            long holeEnd = data < 0 ? end : Math.Min(data, end);
            growth += (holeEnd - hole + PageSize - 1) & ~(long)(PageSize - 1);
            pos = holeEnd;
        }
        return growth;
    }

    public Errno Write(long offset, ReadOnlySpan<byte> src)
    {
        int done = 0;
        fixed (byte* p = src)
        {
            while (done < src.Length)
            {
                nint put = pwrite(_fd, p + done, (nuint)(src.Length - done), offset + done);
                if (put < 0)
                {
                    var e = LastError();
                    if (e == Errno.EINTR) continue;
                    if (offset + done > Size) ftruncate(_fd, Size); // what the failed write added past the end would show after a later extension
                    Changed();
                    return e;
                }
                done += (int)put;
            }
        }
        long end = offset + src.Length;
        if (end > Size) Size = end;
        Changed();
        return Errno.Ok;
    }

    /// <summary>fallocate: backs the range with zeroed pages; extends the size unless <paramref name="keepSize"/>.</summary>
    public Errno Allocate(long offset, long length, bool keepSize)
    {
        if (fallocate(_fd, keepSize ? FALLOC_FL_KEEP_SIZE : 0, offset, length) < 0) return LastError();
        if (!keepSize && offset + length > Size) Size = offset + length;
        Changed();
        return Errno.Ok;
    }

    /// <summary>Sets the size; shrinking frees the pages past it, growing leaves a hole.</summary>
    public Errno Truncate(long newSize)
    {
        if (ftruncate(_fd, newSize) < 0) return LastError();
        Size = newSize;
        Changed();
        return Errno.Ok;
    }

    /// <summary>Zeroes the range, freeing its whole pages. The size does not change.</summary>
    public Errno PunchHole(long offset, long length)
    {
        if (length <= 0 || offset >= Size) return Errno.Ok;
        if (fallocate(_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) < 0) return LastError();
        Changed();
        return Errno.Ok;
    }

    /// <summary>The first data offset at or after <paramref name="offset"/>, or -1 when only holes follow.</summary>
    public long SeekData(long offset) => offset >= Size ? -1 : Math.Max(-1, lseek(_fd, offset, SEEK_DATA));

    /// <summary>The first hole at or after <paramref name="offset"/> (the end of file counts as one).</summary>
    public long SeekHole(long offset)
    {
        if (offset >= Size) return offset;
        long hole = lseek(_fd, offset, SEEK_HOLE);
        return hole < 0 ? Size : hole;
    }

    /// <summary>copy_file_range between two memfds, done by the kernel page by page (holes in the source are
    /// copied as zeros). The caller clips <paramref name="length"/> to the source size.</summary>
    public Errno CopyFrom(MemfdData src, long srcOffset, long dstOffset, long length)
    {
        long inOff = srcOffset, outOff = dstOffset, left = length;
        while (left > 0)
        {
            nint n = copy_file_range(src._fd, &inOff, _fd, &outOff, (nuint)Math.Min(left, 1L << 30), 0);
            if (n < 0)
            {
                var e = LastError();
                if (e == Errno.EINTR) continue;
                if (outOff > Size) ftruncate(_fd, Size); // as in Write: nothing of a failed copy stays past the end
                Changed();
                return e;
            }
            if (n == 0) break;
            left -= n;
        }
        if (left > 0) // the source ended early (cannot happen with the caller's clipping): the rest is a hole
        {
            long end = dstOffset + length;
            if (end > Size && ftruncate(_fd, end) < 0) return LastError();
        }
        if (dstOffset + length > Size) Size = dstOffset + length;
        Changed();
        return Errno.Ok;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        close(_fd);
        Size = 0;
        _allocated = 0;
        _allocatedKnown = true;
    }

    private void Changed() => _allocatedKnown = false;
}
