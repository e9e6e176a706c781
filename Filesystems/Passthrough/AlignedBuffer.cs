using System.Runtime.InteropServices;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// The buffer of O_DIRECT reads on host files, and of O_DIRECT writes whose data is not page-aligned: O_DIRECT wants
/// the memory aligned to the host's logical block size (512 or 4096 bytes), which pooled arrays are not (the engine
/// reads a WRITE so that its data starts on a page boundary: only a request built elsewhere, by hand, needs this for a
/// write). One buffer per thread that
/// makes such calls — the filesystem actor (for the calls it makes itself), each of its I/O pool threads, and each
/// device reader that runs calls itself (ReaderThreadIo) — grown
/// to the largest request seen and reused (each thread's READ or WRITE is done before its next starts), so
/// O_DIRECT costs a copy, never an allocation per request. The offset and length stay the caller's: the host answers
/// EINVAL to unaligned ones as it would answer the caller.
/// </summary>
internal sealed unsafe class AlignedBuffer : IDisposable
{
    /// <summary>The largest logical block size in use: aligned to it, a buffer suits every host filesystem.</summary>
    public const int Alignment = 4096;

    private byte* _buffer;
    private int _size;

    /// <summary>At least <paramref name="size"/> bytes, aligned to <see cref="Alignment"/>; valid until the next call.</summary>
    public byte* Get(int size)
    {
        if (size > _size)
        {
            Free(); // first, so that a failed allocation leaves nothing freed behind to free again
            int rounded = (size + Alignment - 1) & ~(Alignment - 1);
            _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)rounded, Alignment);
            _size = rounded;
        }
        return _buffer;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // A thread's own buffer (ReaderThreadIo's) is not disposed: it is freed here once its thread is gone.
    ~AlignedBuffer() => Free();

    private void Free()
    {
        if (_buffer != null) NativeMemory.AlignedFree(_buffer);
        _buffer = null;
        _size = 0;
    }
}
