using System.Collections.Concurrent;

namespace FuseActors.Actors.Connection;

/// <summary>
/// Read buffers of one exact size (max_write + 4 KiB). ArrayPool rounds 1 MiB + 4 KiB up to 2 MiB arrays, which
/// doubles the memory a connection with many writes in flight holds; this pool keeps exactly what is needed.
/// A WRITE request keeps its read buffer until answered (its payload is not copied), everything else returns it at once.
/// </summary>
public sealed class RequestBufferPool(int bufferSize, int maxRetained)
{
    private readonly ConcurrentQueue<byte[]> _free = new();
    private int _retained;

    public int BufferSize { get; } = bufferSize;

    public byte[] Rent()
    {
        if (_free.TryDequeue(out var b))
        {
            Interlocked.Decrement(ref _retained);
            return b;
        }
        return GC.AllocateUninitializedArray<byte>(BufferSize);
    }

    public void Return(byte[] buffer)
    {
        if (buffer.Length != BufferSize) return;
        if (Interlocked.Increment(ref _retained) > maxRetained)
        {
            Interlocked.Decrement(ref _retained);
            return;
        }
        _free.Enqueue(buffer);
    }
}
