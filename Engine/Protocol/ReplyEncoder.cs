using System.Runtime.CompilerServices;

namespace FuseActors.Engine.Protocol;

/// <summary>
/// Encodes reply payloads (the bytes after fuse_out_header), one method per reply shape. Each writes into the
/// caller's <c>dest</c> (at least the shape's struct size) and returns the written part; they run at write time,
/// with the connection's <see cref="NegotiatedProtocol"/> for defaults. Shapes whose payload already exists as
/// bytes (READ data, READLINK, xattr values, directory listings) are passed through by <see cref="Data"/>.
/// </summary>
public static class ReplyEncoder
{
    /// <summary>fuse_entry_out (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK). Null timeouts take the protocol's defaults.</summary>
    public static ReadOnlySpan<byte> Entry(Span<byte> dest, ulong nodeId, ulong generation, scoped in FuseAttr attr,
        TimeSpan? entryTimeout, TimeSpan? attrTimeout, NegotiatedProtocol p) =>
        Put(dest, EntryOut(nodeId, generation, attr, entryTimeout ?? p.EntryTimeout, attrTimeout ?? p.AttrTimeout));

    /// <summary>The fuse_entry_out struct itself, also the head of each READDIRPLUS record.</summary>
    public static FuseEntryOut EntryOut(ulong nodeId, ulong generation, scoped in FuseAttr attr, TimeSpan entryTimeout, TimeSpan attrTimeout)
    {
        var (es, ens) = Timeout(entryTimeout);
        var (@as, ans) = Timeout(attrTimeout);
        return new FuseEntryOut
        {
            NodeId = nodeId, Generation = generation,
            EntryValid = es, EntryValidNsec = ens, AttrValid = @as, AttrValidNsec = ans,
            Attr = attr,
        };
    }

    /// <summary>fuse_out_header for a reply of <paramref name="payloadLength"/> bytes (a positive errno is negated on the
    /// wire, as libfuse does). Returns the header's bytes.</summary>
    public static ReadOnlySpan<byte> OutHeader(Span<byte> dest, ulong unique, Errno error, int payloadLength) =>
        Put(dest, new FuseOutHeader { Len = (uint)(Unsafe.SizeOf<FuseOutHeader>() + payloadLength), Error = -(int)error, Unique = unique });

    /// <summary>fuse_attr_out (GETATTR, SETATTR). A null timeout takes the protocol's default.</summary>
    public static ReadOnlySpan<byte> Attr(Span<byte> dest, scoped in FuseAttr attr, TimeSpan? timeout, NegotiatedProtocol p)
    {
        var (sec, nsec) = Timeout(timeout ?? p.AttrTimeout);
        return Put(dest, new FuseAttrOut { AttrValid = sec, AttrValidNsec = nsec, Attr = attr });
    }

    /// <summary>fuse_open_out (OPEN, OPENDIR). <paramref name="backingId"/> goes with <see cref="FopenFlags.Passthrough"/>.</summary>
    public static ReadOnlySpan<byte> Open(Span<byte> dest, ulong fh, FopenFlags flags, int backingId) =>
        Put(dest, new FuseOpenOut { Fh = fh, OpenFlags = (uint)flags, BackingId = backingId });

    /// <summary>fuse_entry_out followed by fuse_open_out (CREATE).</summary>
    public static ReadOnlySpan<byte> Create(Span<byte> dest, ulong nodeId, ulong generation, scoped in FuseAttr attr,
        TimeSpan? entryTimeout, TimeSpan? attrTimeout, ulong fh, FopenFlags flags, int backingId, NegotiatedProtocol p)
    {
        int n = Entry(dest, nodeId, generation, attr, entryTimeout, attrTimeout, p).Length;
        return dest[..(n + Open(dest[n..], fh, flags, backingId).Length)];
    }

    /// <summary>fuse_write_out (WRITE).</summary>
    public static ReadOnlySpan<byte> Write(Span<byte> dest, uint written) => Put(dest, new FuseWriteOut { Size = written });

    /// <summary>fuse_statfs_out (STATFS).</summary>
    public static ReadOnlySpan<byte> StatFs(Span<byte> dest, scoped in FuseKStatFs st) => Put(dest, new FuseStatFsOut { St = st });

    /// <summary>A payload that is already bytes (READ, READLINK, GETXATTR/LISTXATTR values, READDIR listings):
    /// returned as it is, not copied into <paramref name="dest"/>.</summary>
    public static ReadOnlySpan<byte> Data(Span<byte> dest, ReadOnlySpan<byte> data) => data;

    /// <summary>One fuse_dirent record of a READDIR reply into <paramref name="record"/>, which is exactly
    /// <see cref="Dirents.Size"/> of the name's length (name bytes as they are, without NUL, zero padding to 8).</summary>
    public static void Dirent(Span<byte> record, ulong ino, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        record.Clear();
        name.CopyTo(record[Dirents.HeaderSize..]);
        int nameLen = name.Length;
        Unsafe.WriteUnaligned(ref record[0], new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)nameLen, Type = type });
    }

    /// <summary>One fuse_direntplus record of a READDIRPLUS reply into <paramref name="record"/>, which is exactly
    /// <see cref="Dirents.PlusSize"/> of the name's length; its ino is the entry's attribute inode number.</summary>
    public static void DirentPlus(Span<byte> record, scoped in FuseEntryOut entry, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        record.Clear();
        name.CopyTo(record[Dirents.PlusHeaderSize..]);
        int nameLen = name.Length;
        Unsafe.WriteUnaligned(ref record[0], new FuseDirentPlus
        {
            EntryOut = entry,
            Dirent = new FuseDirent { Ino = entry.Attr.Ino, Off = nextOffset, NameLen = (uint)nameLen, Type = type },
        });
    }

    /// <summary>fuse_getxattr_out: the answer to a size-0 GETXATTR or LISTXATTR probe.</summary>
    public static ReadOnlySpan<byte> XAttrSize(Span<byte> dest, uint size) => Put(dest, new FuseGetXAttrOut { Size = size });

    /// <summary>fuse_lseek_out (LSEEK).</summary>
    public static ReadOnlySpan<byte> Lseek(Span<byte> dest, ulong offset) => Put(dest, new FuseLseekOut { Offset = offset });

    /// <summary>COPY_FILE_RANGE answers with fuse_write_out: the count is clamped to 32 bits.</summary>
    public static ReadOnlySpan<byte> CopyFileRange(Span<byte> dest, ulong copied) =>
        Put(dest, new FuseWriteOut { Size = (uint)Math.Min(copied, uint.MaxValue) });

    /// <summary>COPY_FILE_RANGE_64 answers with fuse_copy_file_range_out.</summary>
    public static ReadOnlySpan<byte> CopyFileRange64(Span<byte> dest, ulong copied) =>
        Put(dest, new FuseCopyFileRangeOut { BytesCopied = copied });

    /// <summary>fuse_lk_out (GETLK): the conflicting lock, or type F_UNLCK (2) when there is none. An end past the
    /// kernel's OFFSET_MAX (e.g. ulong.MaxValue for "to the end of the file") is sent as OFFSET_MAX, which is what the
    /// kernel accepts (a larger end makes it answer EIO).</summary>
    public static ReadOnlySpan<byte> Lock(Span<byte> dest, ulong start, ulong end, uint type, uint pid) =>
        Put(dest, new FuseLkOut
        {
            Lk = new FuseFileLock
            {
                Start = Math.Min(start, FuseConstants.OffsetMax), End = Math.Min(end, FuseConstants.OffsetMax), Type = type, Pid = pid,
            },
        });

    /// <summary>fuse_out_header of a notification: unique 0, the notify code in the error field.</summary>
    public static ReadOnlySpan<byte> NotifyHeader(Span<byte> dest, NotifyCode code, int payloadLength) =>
        Put(dest, new FuseOutHeader { Len = (uint)(Unsafe.SizeOf<FuseOutHeader>() + payloadLength), Error = (int)code, Unique = 0 });

    /// <summary>FUSE_NOTIFY_INVAL_INODE's payload (fuse_notify_inval_inode_out).</summary>
    public static ReadOnlySpan<byte> NotifyInvalInode(Span<byte> dest, ulong nodeId, long offset, long length) =>
        Put(dest, new FuseNotifyInvalInodeOut { Ino = nodeId, Off = offset, Len = length });

    /// <summary>FUSE_NOTIFY_INVAL_ENTRY's payload: fuse_notify_inval_entry_out, the name and its NUL.</summary>
    public static ReadOnlySpan<byte> NotifyInvalEntry(Span<byte> dest, ulong parent, ReadOnlySpan<byte> name, uint flags = 0)
    {
        int n = Put(dest, new FuseNotifyInvalEntryOut { Parent = parent, NameLen = (uint)name.Length, Flags = flags }).Length;
        name.CopyTo(dest[n..]);
        dest[n + name.Length] = 0;
        return dest[..(n + name.Length + 1)];
    }

    /// <summary>FUSE_NOTIFY_DELETE's payload: fuse_notify_delete_out, the name and its NUL.</summary>
    public static ReadOnlySpan<byte> NotifyDelete(Span<byte> dest, ulong parent, ulong child, ReadOnlySpan<byte> name)
    {
        int n = Put(dest, new FuseNotifyDeleteOut { Parent = parent, Child = child, NameLen = (uint)name.Length }).Length;
        name.CopyTo(dest[n..]);
        dest[n + name.Length] = 0;
        return dest[..(n + name.Length + 1)];
    }

    /// <summary>fuse_init_out (INIT), as <see cref="InitNegotiation.Negotiate"/> chose it.</summary>
    public static ReadOnlySpan<byte> Init(Span<byte> dest, scoped in FuseInitOut init) => Put(dest, init);

    /// <summary>A cache timeout as the kernel stores it (seconds, nanoseconds); zero or negative is 0.</summary>
    public static (ulong Sec, uint Nsec) Timeout(TimeSpan t)
    {
        if (t <= TimeSpan.Zero) return (0, 0);
        long ticks = t.Ticks;
        return ((ulong)(ticks / TimeSpan.TicksPerSecond), (uint)(ticks % TimeSpan.TicksPerSecond * 100));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ReadOnlySpan<byte> Put<T>(Span<byte> dest, scoped in T value) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        Unsafe.WriteUnaligned(ref dest[..size][0], value);
        return dest[..size];
    }
}
