using System.Buffers;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>
/// The contents of a regular file, in one of two stores. A file starts in managed chunks (<see cref="FileData"/>:
/// no system call per read or write, a few KiB for a small file). When a write or fallocate would take it past
/// the spill threshold, its contents move once to a memfd (<see cref="MemfdData"/>): big data then lives in the
/// kernel's page cache, not in the daemon's GC heap, so the daemon's resident set stays small whatever the files
/// hold, and only big files cost a descriptor. When no memfd can be had (out of descriptors) the file stays in
/// chunks and <see cref="SpillError"/> says why.
/// Not thread-safe: the owning actor serialises access.
/// </summary>
internal sealed class FileContent : IDisposable
{
    private const int CopyPiece = 1 << 20;

    private readonly long _spillThreshold;
    private FileData? _chunks = new();
    private MemfdData? _memfd;

    /// <param name="spillThreshold">Allocated bytes above which the contents move to a memfd; long.MaxValue: never.</param>
    public FileContent(long spillThreshold) => _spillThreshold = spillThreshold;

    public long Size => _memfd?.Size ?? _chunks!.Size;

    /// <summary>Bytes the contents take (what st_blocks reports and capacity accounting counts).</summary>
    public long AllocatedBytes => _memfd?.AllocatedBytes ?? _chunks!.AllocatedBytes;

    /// <summary>True once the contents live in a memfd.</summary>
    public bool InMemfd => _memfd is not null;

    /// <summary>The memfd's descriptor, or -1 while the contents are in chunks.</summary>
    internal int MemfdDescriptor => _memfd?.Fd ?? -1;

    /// <summary>Why the last move to a memfd failed (Ok when none did); the file then stays in managed chunks.</summary>
    public Errno SpillError { get; private set; }

    /// <summary>Copies up to <c>dest.Length</c> bytes from <paramref name="offset"/>: how many (short at EOF), or a negative errno.</summary>
    public int Read(long offset, Span<byte> dest) => _memfd?.Read(offset, dest) ?? _chunks!.Read(offset, dest);

    /// <summary>An upper bound of the bytes a write or allocation of this range would add, cheap to compute.</summary>
    public long GrowthFor(long offset, long length) => _memfd is not null ? MemfdData.GrowthFor(offset, length) : _chunks!.GrowthFor(offset, length);

    /// <summary>The bytes a write or allocation of this range would add; for a memfd this asks the kernel, so it is
    /// meant for the rare write whose <see cref="GrowthFor"/> bound does not fit.</summary>
    public long ExactGrowthFor(long offset, long length) => _memfd?.ExactGrowthFor(offset, length) ?? _chunks!.GrowthFor(offset, length);

    /// <summary>Would a write or allocation of this range fit in <paramref name="available"/> more bytes?</summary>
    public bool Fits(long offset, long length, long available)
    {
        long bound = GrowthFor(offset, length);
        return bound <= available || ExactGrowthFor(offset, length) <= available;
    }

    public Errno Write(long offset, ReadOnlySpan<byte> src)
    {
        if (_memfd is null && !SpillIfOver(offset, src.Length))
        {
            _chunks!.Write(offset, src);
            return Errno.Ok;
        }
        return _memfd!.Write(offset, src);
    }

    public Errno Allocate(long offset, long length, bool keepSize)
    {
        if (_memfd is null && !SpillIfOver(offset, length))
        {
            _chunks!.Allocate(offset, length, keepSize);
            return Errno.Ok;
        }
        return _memfd!.Allocate(offset, length, keepSize);
    }

    public Errno Truncate(long newSize)
    {
        if (_memfd is not null) return _memfd.Truncate(newSize);
        _chunks!.Truncate(newSize);
        return Errno.Ok;
    }

    public Errno PunchHole(long offset, long length)
    {
        if (_memfd is not null) return _memfd.PunchHole(offset, length);
        _chunks!.PunchHole(offset, length);
        return Errno.Ok;
    }

    /// <summary>The first data offset at or after <paramref name="offset"/>, or -1; the caller compares it with the size.</summary>
    public long SeekData(long offset) => _memfd?.SeekData(offset) ?? _chunks!.SeekData(offset);

    /// <summary>The first hole at or after <paramref name="offset"/> (may be past the size; the caller clips).</summary>
    public long SeekHole(long offset) => _memfd?.SeekHole(offset) ?? _chunks!.SeekHole(offset);

    /// <summary>copy_file_range of <paramref name="length"/> bytes (clipped by the caller to the source size).</summary>
    public Errno CopyFrom(FileContent src, long srcOffset, long dstOffset, long length)
    {
        if (_memfd is null) SpillIfOver(dstOffset, length);
        if (_memfd is not null && src._memfd is not null) return _memfd.CopyFrom(src._memfd, srcOffset, dstOffset, length);
        if (_chunks is not null && src._chunks is not null)
        {
            _chunks.CopyFrom(src._chunks, srcOffset, dstOffset, length);
            return Errno.Ok;
        }
        return CopyThroughBuffer(src, srcOffset, dstOffset, length);
    }

    public void Dispose()
    {
        _memfd?.Dispose();
        _chunks?.Clear();
    }

    /// <summary>Moves the contents to a memfd if writing this range could take them past the threshold.
    /// True when they are in a memfd afterwards.</summary>
    private bool SpillIfOver(long offset, long length)
    {
        var chunks = _chunks!;
        if (chunks.AllocatedBytes + chunks.GrowthFor(offset, length) <= _spillThreshold) return false;
        var error = MemfdData.TryCreate(out var memfd);
        if (error == Errno.Ok) error = CopyChunksInto(chunks, memfd!);
        if (error != Errno.Ok)
        {
            memfd?.Dispose();
            SpillError = error;
            return false;
        }
        _memfd = memfd;
        _chunks = null;
        chunks.Clear();
        return true;
    }

    /// <summary>Writes only the chunks that exist, so holes stay holes in the memfd.</summary>
    private static Errno CopyChunksInto(FileData chunks, MemfdData memfd)
    {
        var error = memfd.Truncate(chunks.Size);
        foreach (var (offset, array) in chunks.Chunks)
        {
            if (error != Errno.Ok) return error;
            long length = Math.Min(array.Length, chunks.Size - offset);
            if (length > 0) error = memfd.Write(offset, array.AsSpan(0, (int)length));
        }
        return error;
    }

    /// <summary>Copy between the two stores: data extents through a pooled buffer, holes punched.</summary>
    private Errno CopyThroughBuffer(FileContent src, long srcOffset, long dstOffset, long length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyPiece);
        try
        {
            long end = srcOffset + length;
            long pos = srcOffset;
            while (pos < end)
            {
                long data = src.SeekData(pos);
                long dataStart = data < 0 || data >= end ? end : data;
                var error = dataStart > pos ? HoleAt(dstOffset + (pos - srcOffset), dataStart - pos) : Errno.Ok;
                if (error != Errno.Ok) return error;
                pos = dataStart;
                if (pos >= end) break;
                long extentEnd = Math.Min(Math.Max(src.SeekHole(pos), pos + 1), end);
                while (pos < extentEnd)
                {
                    int n = (int)Math.Min(CopyPiece, extentEnd - pos);
                    int got = src.Read(pos, buffer.AsSpan(0, n));
                    if (got < 0) return (Errno)(-got);
                    if (got == 0) return HoleAt(dstOffset + (pos - srcOffset), end - pos); // the source ended early
                    error = Write(dstOffset + (pos - srcOffset), buffer.AsSpan(0, got));
                    if (error != Errno.Ok) return error;
                    pos += got;
                }
            }
            return Errno.Ok;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Makes [offset, offset+length) of this file read as zeros, extending the size over it if needed.</summary>
    private Errno HoleAt(long offset, long length)
    {
        long end = offset + length;
        var error = PunchHole(offset, Math.Min(length, Math.Max(0, Size - offset)));
        if (error == Errno.Ok && end > Size) error = Truncate(end);
        return error;
    }
}
