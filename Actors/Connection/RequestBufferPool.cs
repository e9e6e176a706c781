using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FuseActors.Actors.Connection;

/// <summary>
/// Read buffers of one exact size (max_write + 4 KiB). ArrayPool rounds 1 MiB + 4 KiB up to 2 MiB arrays, which
/// doubles the memory a connection with many writes in flight holds; this pool keeps exactly what is needed.
/// A WRITE request keeps its read buffer until answered (its payload is not copied), everything else returns it at once.
/// <para>
/// A request is read at <see cref="ReadStart"/>, not at the array's start: there a WRITE's data (after fuse_in_header
/// and fuse_write_in) begins on a page boundary, so a filesystem can hand it to an O_DIRECT host descriptor as it is
/// instead of copying it into an aligned buffer first (1 MiB per WRITE). The arrays are pinned (the pinned object heap)
/// so that the offset, computed from the address, stays right.
/// </para>
/// </summary>
public sealed class RequestBufferPool(int bufferSize, int maxRetained)
{
    /// <summary>Where a WRITE's data starts in a request: sizeof(fuse_in_header) + sizeof(fuse_write_in).</summary>
    public const int WriteDataOffset = 40 + 40;
    private const int PageSize = 4096;

    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _retained;

    /// <summary>The most a request read into one of these buffers may take (from <see cref="ReadStart"/> on).</summary>
    public int BufferSize { get; } = bufferSize;

    private int ArrayLength => BufferSize + PageSize;

    public byte[] Rent()
    {
        if (_free.TryDequeue(out var b))
        {
            Interlocked.Decrement(ref _retained);
            return b;
        }
        return GC.AllocateUninitializedArray<byte>(ArrayLength, pinned: true);
    }

    /// <summary>Takes back a buffer of <see cref="Rent"/>'s (only those: <see cref="ReadStart"/> is right for pinned
    /// arrays alone); an array of another length is left to the GC.</summary>
    public void Return(byte[] buffer)
    {
        if (buffer.Length != ArrayLength) return;
        if (Interlocked.Increment(ref _retained) > maxRetained)
        {
            Interlocked.Decrement(ref _retained);
            return;
        }
        _free.Enqueue(buffer);
    }

    /// <summary>The offset in <paramref name="buffer"/> (one of <see cref="Rent"/>'s) to read a request at: a WRITE read
    /// there has its data on a page boundary.</summary>
    public static unsafe int ReadStart(byte[] buffer) =>
        ReadStart((nuint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer)));

    /// <summary>The offset from <paramref name="address"/> (an array's first byte) at which a WRITE's data falls on a
    /// page: 0 to a page less one, so a read of <see cref="BufferSize"/> from there stays inside the array.</summary>
    public static int ReadStart(nuint address) => (int)((PageSize - (address + WriteDataOffset) % PageSize) % PageSize);

    /// <summary>The span of <paramref name="buffer"/> a request is read into, from <paramref name="start"/>
    /// (<see cref="ReadStart(byte[])"/>).</summary>
    public Span<byte> ReadSpan(byte[] buffer, int start) => buffer.AsSpan(start, BufferSize);
}
