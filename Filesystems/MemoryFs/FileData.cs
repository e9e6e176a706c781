using System.Numerics;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>
/// The contents of a regular file: sparse, stored in 64 KiB chunks keyed by chunk index. A missing chunk is a
/// hole and reads as zeros; <see cref="Size"/> is independent of which chunks exist. A chunk's array starts
/// small (4 KiB) and doubles up to the chunk size as writes reach further into it, so a small file costs a
/// few KiB rather than a whole chunk; the bytes of a chunk beyond its array read as zeros too.
/// Invariant: every byte at or past <see cref="Size"/> is zero, so growing the size never exposes old data.
/// Not thread-safe: the owning actor serialises access.
/// </summary>
internal sealed class FileData
{
    public const int ChunkShift = 16;
    public const int ChunkSize = 1 << ChunkShift;
    public const int MinArray = 4096;
    private const long ChunkMask = ChunkSize - 1;

    private readonly Dictionary<long, byte[]> _chunks = new();

    /// <summary>Logical file size in bytes.</summary>
    public long Size { get; private set; }

    /// <summary>Bytes held in chunk arrays (what st_blocks reports and capacity accounting counts).</summary>
    public long AllocatedBytes { get; private set; }

    public int ChunkCount => _chunks.Count;

    /// <summary>Copies up to <c>dest.Length</c> bytes from <paramref name="offset"/>; returns how many (short at EOF).</summary>
    public int Read(long offset, Span<byte> dest)
    {
        if (offset < 0 || offset >= Size) return 0;
        int n = (int)Math.Min(dest.Length, Size - offset);
        int done = 0;
        while (done < n)
        {
            long pos = offset + done;
            int inChunk = (int)(pos & ChunkMask);
            int len = Math.Min(n - done, ChunkSize - inChunk);
            var d = dest.Slice(done, len);
            if (_chunks.TryGetValue(pos >> ChunkShift, out var c) && c.Length > inChunk)
            {
                int avail = Math.Min(len, c.Length - inChunk);
                c.AsSpan(inChunk, avail).CopyTo(d);
                d[avail..].Clear();
            }
            else
            {
                d.Clear();
            }
            done += len;
        }
        return n;
    }

    /// <summary>How many more bytes of chunk arrays a write (or allocation) of this range would need.
    /// Used to refuse with ENOSPC before changing anything. Its cost follows the chunks that exist, not the range:
    /// a fallocate of a petabyte must be refused at once, not after a loop over 2^34 chunk positions.</summary>
    public long GrowthFor(long offset, long length)
    {
        if (length <= 0) return 0;
        long end = offset + length;
        long first = offset >> ChunkShift, last = (end - 1) >> ChunkShift;
        // Arrays grow from the chunk's start, so every chunk before the last needs a whole one; the last needs what
        // reaches the end of the range.
        int lastNeeded = (int)Math.Min(ChunkSize, end - (last << ChunkShift));
        int lastHave = _chunks.TryGetValue(last, out var lc) ? lc.Length : 0;
        long growth = lastNeeded > lastHave ? ArrayLengthFor(lastNeeded) - lastHave : 0;
        long wholeChunks = last - first;
        if (wholeChunks == 0) return growth;
        growth += wholeChunks << ChunkShift;
        if (wholeChunks <= _chunks.Count)
        {
            for (long idx = first; idx < last; idx++)
                if (_chunks.TryGetValue(idx, out var c)) growth -= c.Length;
        }
        else
        {
            foreach (var (idx, c) in _chunks)
                if (idx >= first && idx < last) growth -= c.Length;
        }
        return growth;
    }

    /// <summary>Writes <paramref name="src"/> at <paramref name="offset"/>, allocating chunks and extending the size.</summary>
    public void Write(long offset, ReadOnlySpan<byte> src)
    {
        int done = 0;
        while (done < src.Length)
        {
            long pos = offset + done;
            int inChunk = (int)(pos & ChunkMask);
            int len = Math.Min(src.Length - done, ChunkSize - inChunk);
            var c = Ensure(pos >> ChunkShift, inChunk + len);
            src.Slice(done, len).CopyTo(c.AsSpan(inChunk));
            done += len;
        }
        long end = offset + src.Length;
        if (end > Size) Size = end;
    }

    /// <summary>fallocate: makes the range backed by chunk arrays (zero-filled); extends the size unless <paramref name="keepSize"/>.</summary>
    public void Allocate(long offset, long length, bool keepSize)
    {
        long end = offset + length;
        for (long idx = offset >> ChunkShift, last = (end - 1) >> ChunkShift; idx <= last; idx++)
        {
            long chunkStart = idx << ChunkShift;
            Ensure(idx, (int)Math.Min(ChunkSize, end - chunkStart));
        }
        if (!keepSize && end > Size) Size = end;
    }

    /// <summary>Sets the size. Shrinking frees whole chunks past the end and zeroes the tail of the last one;
    /// growing only moves the size (the new range is a hole).</summary>
    public void Truncate(long newSize)
    {
        if (newSize < Size)
        {
            long firstFree = (newSize + ChunkMask) >> ChunkShift;
            RemoveChunks(firstFree, long.MaxValue);
            int inChunk = (int)(newSize & ChunkMask);
            if (inChunk != 0 && _chunks.TryGetValue(newSize >> ChunkShift, out var c) && c.Length > inChunk)
                c.AsSpan(inChunk).Clear();
        }
        Size = newSize;
    }

    /// <summary>Zeroes the range: whole chunks inside it are freed, partial ones cleared. The size does not change.</summary>
    public void PunchHole(long offset, long length)
    {
        if (length <= 0) return;
        long end = offset + length;
        long firstWhole = (offset + ChunkMask) >> ChunkShift;
        long endWhole = end >> ChunkShift; // exclusive
        if (firstWhole < endWhole) RemoveChunks(firstWhole, endWhole);
        // Partial chunk at the start (and at the end when it is a different chunk).
        ClearWithinChunk(offset, Math.Min(end, (offset | ChunkMask) + 1));
        if ((end & ChunkMask) != 0 && (end >> ChunkShift) != (offset >> ChunkShift))
            ClearWithinChunk(end & ~ChunkMask, end);
    }

    /// <summary>SEEK_DATA at chunk granularity: the first offset &gt;= <paramref name="offset"/> inside an allocated chunk,
    /// or -1 when no chunk follows. The caller compares the result with <see cref="Size"/>.</summary>
    public long SeekData(long offset)
    {
        long start = offset >> ChunkShift;
        long best = long.MaxValue;
        if (Size - (start << ChunkShift) > (long)_chunks.Count << ChunkShift)
        {
            // Fewer chunks than chunk positions to probe: one pass over the keys.
            foreach (var idx in _chunks.Keys)
                if (idx >= start && idx < best) best = idx;
        }
        else
        {
            long last = (Size - 1) >> ChunkShift;
            for (long idx = start; idx <= last; idx++)
                if (_chunks.ContainsKey(idx)) { best = idx; break; }
        }
        return best == long.MaxValue ? -1 : Math.Max(offset, best << ChunkShift);
    }

    /// <summary>SEEK_HOLE at chunk granularity: the first offset &gt;= <paramref name="offset"/> in a missing chunk
    /// (may be past <see cref="Size"/>; the caller clips to it).</summary>
    public long SeekHole(long offset)
    {
        long idx = offset >> ChunkShift;
        while (_chunks.ContainsKey(idx)) idx++;
        return Math.Max(offset, idx << ChunkShift);
    }

    /// <summary>copy_file_range: copies <paramref name="length"/> bytes of <paramref name="src"/> (the caller clips
    /// to the source size), keeping holes as holes. The ranges must not overlap when src is this file.</summary>
    public void CopyFrom(FileData src, long srcOffset, long dstOffset, long length)
    {
        long done = 0;
        while (done < length)
        {
            long pos = srcOffset + done;
            int inChunk = (int)(pos & ChunkMask);
            int len = (int)Math.Min(length - done, ChunkSize - inChunk);
            if (src._chunks.TryGetValue(pos >> ChunkShift, out var c) && c.Length > inChunk)
            {
                len = Math.Min(len, c.Length - inChunk);
                Write(dstOffset + done, c.AsSpan(inChunk, len));
            }
            else
            {
                PunchHole(dstOffset + done, len); // a hole (or past the chunk's array) stays a hole
            }
            done += len;
        }
        long end = dstOffset + length;
        if (end > Size) Size = end;
    }

    /// <summary>Frees everything (the inode is gone).</summary>
    public void Clear()
    {
        _chunks.Clear();
        AllocatedBytes = 0;
        Size = 0;
    }

    internal bool HasChunk(long index) => _chunks.ContainsKey(index);

    /// <summary>The chunks that exist, as (file offset, array); bytes past an array's length are zeros.</summary>
    internal IEnumerable<(long Offset, byte[] Array)> Chunks
    {
        get
        {
            foreach (var (idx, array) in _chunks) yield return (idx << ChunkShift, array);
        }
    }

    private static int ArrayLengthFor(int needed) =>
        needed <= MinArray ? MinArray : (int)Math.Min(ChunkSize, BitOperations.RoundUpToPowerOf2((uint)needed));

    private byte[] Ensure(long idx, int needed)
    {
        if (_chunks.TryGetValue(idx, out var c) && c.Length >= needed) return c;
        int newLen = ArrayLengthFor(needed);
        var grown = new byte[newLen];
        if (c is not null) c.CopyTo(grown, 0);
        AllocatedBytes += newLen - (c?.Length ?? 0);
        _chunks[idx] = grown;
        return grown;
    }

    /// <summary>Removes chunks with index in [from, to). Probes either the index range or the keys, whichever is smaller.</summary>
    private void RemoveChunks(long from, long to)
    {
        if (_chunks.Count == 0 || from >= to) return;
        if ((ulong)(to - from) <= (ulong)_chunks.Count)
        {
            for (long idx = from; idx < to; idx++)
                if (_chunks.Remove(idx, out var c)) AllocatedBytes -= c.Length;
            return;
        }
        // Removing during enumeration is allowed for Dictionary since .NET Core 3.0.
        foreach (var (idx, c) in _chunks)
        {
            if (idx >= from && idx < to)
            {
                _chunks.Remove(idx);
                AllocatedBytes -= c.Length;
            }
        }
    }

    /// <summary>Zeroes [from, to), which lies within one chunk.</summary>
    private void ClearWithinChunk(long from, long to)
    {
        if (from >= to || !_chunks.TryGetValue(from >> ChunkShift, out var c)) return;
        int a = (int)(from & ChunkMask);
        int b = (int)Math.Min(c.Length, ((to - 1) & ChunkMask) + 1);
        if (b > a) c.AsSpan(a, b - a).Clear();
    }
}
