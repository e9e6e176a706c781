using FuseActors.Filesystems.Interop;
using FuseActors.Actors.Connection;
using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>One raw <c>linux_dirent64</c> record in a <see cref="DirectoryStream"/>'s buffer.</summary>
internal readonly struct RawDirEntry(ulong ino, ulong nextOffset, byte type, int recordLength, int nameOffset, int nameLength)
{
    public ulong Ino { get; } = ino;
    /// <summary>The host's d_off: the cookie of the entry after this one, used as the FUSE cookie unchanged.</summary>
    public ulong NextOffset { get; } = nextOffset;
    /// <summary>DT_* (0 = unknown).</summary>
    public byte Type { get; } = type;
    public int RecordLength { get; } = recordLength;
    public int NameOffset { get; } = nameOffset;
    /// <summary>Bytes of the name, without its NUL.</summary>
    public int NameLength { get; } = nameLength;
}

/// <summary>
/// An open host directory read with <c>getdents64</c>. The host's own d_off values are the cookies, so offsets
/// stay stable across READDIR calls (and across entries added or removed meanwhile, as far as the host filesystem
/// guarantees it). An entry is only consumed by <see cref="Advance"/>, so one that did not fit the kernel's buffer
/// is the first of the next call. A READDIR that continues from somewhere else seeks with <c>lseek(d_off)</c>.
/// </summary>
internal sealed unsafe class DirectoryStream : IDisposable
{
    private const int BufferSize = 32 * 1024;
    // Buffers of closed streams, kept for the next (64 at most; pinned arrays of one size, as the connection's read
    // buffers): a pinned array lives on the pinned object heap, which only a full collection sweeps, and a listing the
    // kernel serves from its own cache (FOPEN_CACHE_DIR) opens and releases the directory without ever reading it: one
    // 32 KiB array per OPENDIR was garbage only a gen2 collection freed.
    private static readonly RequestBufferPool s_buffers = new(BufferSize, maxRetained: 64);

    // Taken on the first read, given back at Dispose. Pinned, so a name inside it can be passed to openat for
    // READDIRPLUS without copying.
    private byte[]? _buffer;
    private int _pos;
    private int _len;
    /// <summary>The cookie of the entry at <see cref="_pos"/>: the d_off of the last consumed entry, 0 at the start.</summary>
    private ulong _position;

    public DirectoryStream(int fd) => Fd = fd;

    public int Fd { get; private set; }

    /// <summary>Continues at <paramref name="cookie"/> (a d_off handed out before, or 0 for the start).</summary>
    public Errno Seek(ulong cookie)
    {
        if (cookie == _position) return Errno.Ok;
        if (Native.lseek(Fd, (long)cookie, Native.SEEK_SET) < 0) return Native.LastError();
        _pos = _len = 0;
        _position = cookie;
        return Errno.Ok;
    }

    /// <summary>The next entry without consuming it: 1 = <paramref name="entry"/> is set, 0 = end of directory,
    /// negative = -errno.</summary>
    public int Peek(out RawDirEntry entry)
    {
        entry = default;
        if (_pos >= _len)
        {
            if (Fd < 0) return -(int)Errno.EBADF; // disposed: no buffer taken for a read that cannot happen
            _buffer ??= s_buffers.Rent();
            nint n;
            fixed (byte* p = _buffer) n = Native.getdents64(Fd, p, BufferSize);
            if (n < 0) return -(int)Native.LastError();
            _pos = 0;
            _len = (int)n;
            if (n == 0) return 0;
        }
        var rec = _buffer!.AsSpan(_pos);
        ulong ino = MemoryMarshal.Read<ulong>(rec);
        ulong off = MemoryMarshal.Read<ulong>(rec[8..]);
        ushort reclen = MemoryMarshal.Read<ushort>(rec[16..]);
        byte type = rec[18];
        int nameLen = rec.Slice(19, reclen - 19).IndexOf((byte)0);
        if (nameLen < 0) nameLen = reclen - 19;
        entry = new RawDirEntry(ino, off, type, reclen, _pos + 19, nameLen);
        return 1;
    }

    /// <summary>The entry's name bytes (not including the NUL that follows them in the buffer).</summary>
    public ReadOnlySpan<byte> Name(in RawDirEntry e) => _buffer!.AsSpan(e.NameOffset, e.NameLength);

    /// <summary>A pointer to the entry's NUL-terminated name (the buffer is pinned; valid until the next read or Dispose,
    /// which hands the buffer to the next stream).</summary>
    public byte* NamePointer(in RawDirEntry e) => (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_buffer!, e.NameOffset);

    /// <summary>Consumes the entry returned by the last <see cref="Peek"/>.</summary>
    public void Advance(in RawDirEntry e)
    {
        _pos += e.RecordLength;
        _position = e.NextOffset;
    }

    public void Dispose()
    {
        if (Fd >= 0)
        {
            Native.close(Fd);
            Fd = -1;
        }
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _pos = _len = 0;
            s_buffers.Return(buffer);
        }
    }
}
