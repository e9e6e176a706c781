using System.Buffers;
using System.Text;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

// The typed requests a filesystem actor receives, one per operation, each with the reply methods of its shape.

/// <summary>Base for requests answered with an <see cref="Entry"/> (LOOKUP, MKDIR, MKNOD, SYMLINK, LINK).</summary>
public abstract class EntryRequest : FsRequest
{
    private Entry _entry;
    private bool _negative;

    /// <summary>Answers with a node; the kernel adds 1 to its lookup count.</summary>
    public bool Reply(in Entry entry)
    {
        _entry = entry;
        return Complete();
    }

    internal ref readonly Entry ReplyEntry => ref _entry;
    internal bool IsNegative => _negative;

    /// <summary>LOOKUP only: "no such name", cached by the kernel for <paramref name="ttl"/> (zero means ENOENT, not cached).</summary>
    protected bool ReplyNegativeEntry(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero) return Fail(Errno.ENOENT);
        _negative = true;
        _entry = new Entry { NodeId = 0, EntryTimeout = ttl, AttrTimeout = TimeSpan.Zero };
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, _entry.ToWire(s));

    internal override string? ValidateReply()
    {
        if (_negative) return null;
        if (_entry.NodeId == 0) return "entry reply with node id 0";
        if (_entry.NodeId == FuseConstants.RootId) return "entry reply hands out the root node id for a child";
        return AttrValidator.Check(in _entry.Attr);
    }
}

public sealed class LookupRequest : EntryRequest
{
    public override Opcode Opcode => Opcode.Lookup;
    public string Name { get; internal set; } = "";
    /// <summary>Caches "no such entry" in the kernel for <paramref name="ttl"/>.</summary>
    public bool ReplyNegative(TimeSpan ttl) => ReplyNegativeEntry(ttl);
    public override string ToString() => $"{base.ToString()} name={Name}";
}

public sealed class MkNodRequest : EntryRequest
{
    public override Opcode Opcode => Opcode.MkNod;
    public string Name { get; internal set; } = "";
    /// <summary>Includes the S_IF type bits; already masked with the umask by the kernel.</summary>
    public uint Mode { get; internal set; }
    public uint Rdev { get; internal set; }
    public uint Umask { get; internal set; }
}

public sealed class MkDirRequest : EntryRequest
{
    public override Opcode Opcode => Opcode.MkDir;
    public string Name { get; internal set; } = "";
    /// <summary>Permission bits only (no S_IFDIR), already masked with the umask.</summary>
    public uint Mode { get; internal set; }
    public uint Umask { get; internal set; }
}

public sealed class SymlinkRequest : EntryRequest
{
    public override Opcode Opcode => Opcode.Symlink;
    public string Name { get; internal set; } = "";
    public string Target { get; internal set; } = "";
}

public sealed class LinkRequest : EntryRequest
{
    public override Opcode Opcode => Opcode.Link;
    /// <summary>The existing node that gets a new name; <see cref="FsRequest.NodeId"/> is the new parent.</summary>
    public ulong OldNodeId { get; internal set; }
    public string NewName { get; internal set; } = "";

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = OldNodeId;
        return 2;
    }
}

/// <summary>FORGET and BATCH_FORGET: the kernel dropped <c>NLookup</c> references to each node. Never answered.</summary>
public sealed class ForgetRequest : FsRequest
{
    public override Opcode Opcode => (Opcode)Header.Opcode is Opcode.Forget ? Opcode.Forget : Opcode.BatchForget;
    public FuseForgetOne[] Items { get; internal set; } = [];
    public int Count { get; internal set; }
    public ReadOnlySpan<FuseForgetOne> Forgets => Items.AsSpan(0, Count);
}

public abstract class AttrRequest : FsRequest
{
    private FuseAttr _attr;
    private TimeSpan? _ttl;

    public bool Reply(in FuseAttr attr, TimeSpan? timeout = null)
    {
        _attr = attr;
        _ttl = timeout;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s)
    {
        var (sec, nsec) = Entry.Split(_ttl ?? s.AttrTimeout);
        return Put(scratch, new FuseAttrOut { AttrValid = sec, AttrValidNsec = nsec, Attr = _attr });
    }

    internal override string? ValidateReply() => AttrValidator.Check(in _attr);
}

public sealed class GetAttrRequest : AttrRequest
{
    public override Opcode Opcode => Opcode.GetAttr;
    /// <summary>The open file handle when the kernel knows one (fstat), else null.</summary>
    public ulong? Fh { get; internal set; }
}

public sealed class SetAttrRequest : AttrRequest
{
    public override Opcode Opcode => Opcode.SetAttr;
    /// <summary>FATTR_* bits saying which fields below are set.</summary>
    public uint Valid { get; internal set; }
    public ulong? Fh { get; internal set; }
    public ulong Size { get; internal set; }
    public FsTime Atime { get; internal set; }
    public FsTime Mtime { get; internal set; }
    public FsTime Ctime { get; internal set; }
    public uint Mode { get; internal set; }
    public uint AttrUid { get; internal set; }
    public uint AttrGid { get; internal set; }

    public bool Has(uint fattr) => (Valid & fattr) != 0;
    public bool SetsMode => Has(FuseConstants.FattrMode);
    public bool SetsUid => Has(FuseConstants.FattrUid);
    public bool SetsGid => Has(FuseConstants.FattrGid);
    public bool SetsSize => Has(FuseConstants.FattrSize);
    public bool SetsAtime => Has(FuseConstants.FattrAtime);
    public bool SetsMtime => Has(FuseConstants.FattrMtime);
    public bool SetsCtime => Has(FuseConstants.FattrCtime);
    public bool AtimeNow => Has(FuseConstants.FattrAtimeNow);
    public bool MtimeNow => Has(FuseConstants.FattrMtimeNow);
}

public sealed class ReadLinkRequest : FsRequest
{
    private byte[] _target = [];
    public override Opcode Opcode => Opcode.ReadLink;

    public bool Reply(string target)
    {
        _target = Encoding.UTF8.GetBytes(target);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => _target;
    internal override string? ValidateReply() => _target.Length == 0 ? "empty symlink target" : null;
}

/// <summary>Base for requests answered with no payload (UNLINK, RMDIR, RENAME, RELEASE, FSYNC, ...).</summary>
public abstract class EmptyReplyRequest : FsRequest
{
    /// <summary>Answers success.</summary>
    public bool Reply() => Complete();
}

public sealed class UnlinkRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Unlink;
    public string Name { get; internal set; } = "";
}

public sealed class RmDirRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.RmDir;
    public string Name { get; internal set; } = "";
}

/// <summary>RENAME and RENAME2. <see cref="FsRequest.NodeId"/> is the old parent.</summary>
public sealed class RenameRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Flags == 0 ? Opcode.Rename : Opcode.Rename2;
    public string Name { get; internal set; } = "";
    public ulong NewDir { get; internal set; }
    public string NewName { get; internal set; } = "";
    /// <summary>RENAME_NOREPLACE (1), RENAME_EXCHANGE (2), RENAME_WHITEOUT (4).</summary>
    public uint Flags { get; internal set; }
    public bool NoReplace => (Flags & FuseConstants.RenameNoReplace) != 0;
    public bool Exchange => (Flags & FuseConstants.RenameExchange) != 0;

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = NewDir;
        return 2;
    }
}

/// <summary>Kernel passthrough for OPEN and CREATE: the kernel then reads and writes the backing file itself.</summary>
public static class BackingFiles
{
    /// <summary>True when this connection negotiated FUSE_PASSTHROUGH and its device can register backing files.</summary>
    public static bool CanPassthrough(this FsRequest r) => r.Protocol?.Passthrough == true && r.Device is IPassthroughDevice;

    /// <summary>Registers an open host descriptor as a backing file. Returns the backing id (&gt; 0) for
    /// <c>Reply(fh, FOPEN_PASSTHROUGH, id)</c>, or a negated errno (then reply without passthrough).</summary>
    public static int OpenBackingFile(this FsRequest r, int fd) =>
        r.CanPassthrough() ? ((IPassthroughDevice)r.Device!).OpenBacking(fd) : -(int)Errno.EOPNOTSUPP;

    /// <summary>Drops a backing id once the open that used it is released.</summary>
    public static int CloseBackingFile(this FsRequest r, int backingId) =>
        r.Device is IPassthroughDevice d ? d.CloseBacking(backingId) : -(int)Errno.EOPNOTSUPP;
}

/// <summary>OPEN and OPENDIR.</summary>
public sealed class OpenRequest : FsRequest
{
    private FuseOpenOut _out;
    public override Opcode Opcode => IsDirectory ? Opcode.OpenDir : Opcode.Open;
    public bool IsDirectory { get; internal set; }
    /// <summary>open(2) flags (O_ACCMODE, O_TRUNC with ATOMIC_O_TRUNC, O_APPEND, ...).</summary>
    public uint Flags { get; internal set; }
    public uint OpenFlags { get; internal set; }

    /// <summary>Answers with a handle the kernel passes back on READ/WRITE/RELEASE; FOPEN_* flags optional.</summary>
    public bool Reply(ulong fh, uint fopenFlags = 0, int backingId = 0)
    {
        _out = new FuseOpenOut { Fh = fh, OpenFlags = fopenFlags, BackingId = backingId };
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, _out);
}

public sealed class CreateRequest : EntryRequest
{
    private FuseOpenOut _open;
    public override Opcode Opcode => Opcode.Create;
    public string Name { get; internal set; } = "";
    public uint Flags { get; internal set; }
    /// <summary>Includes S_IFREG; already masked with the umask.</summary>
    public uint Mode { get; internal set; }
    public uint Umask { get; internal set; }
    public uint OpenFlags { get; internal set; }

    public bool Reply(in Entry entry, ulong fh, uint fopenFlags = 0, int backingId = 0)
    {
        _open = new FuseOpenOut { Fh = fh, OpenFlags = fopenFlags, BackingId = backingId };
        return Reply(entry);
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s)
    {
        int n = base.EncodeReply(scratch, s).Length;
        return scratch[..(n + Put(scratch[n..], _open).Length)];
    }
}

public sealed class ReadRequest : FsRequest
{
    private ReadOnlyMemory<byte> _data;
    private byte[]? _pooled;
    public override Opcode Opcode => Opcode.Read;
    public ulong Fh { get; internal set; }
    public ulong Offset { get; internal set; }
    /// <summary>Most bytes to return; fewer means end of file for cached reads.</summary>
    public uint Size { get; internal set; }
    public uint ReadFlags { get; internal set; }
    public uint Flags { get; internal set; }

    /// <summary>Answers with <paramref name="data"/> (not copied: it must stay unchanged until written).</summary>
    public bool Reply(ReadOnlyMemory<byte> data)
    {
        _data = data;
        return Complete();
    }

    /// <summary>Answers with the first <paramref name="length"/> bytes of a buffer rented from <see cref="ArrayPool{T}.Shared"/>;
    /// the engine returns it to the pool after the write.</summary>
    public bool ReplyPooled(byte[] rented, int length)
    {
        _pooled = rented;
        _data = rented.AsMemory(0, length);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => _data.Span;
    internal override string? ValidateReply() => _data.Length > Size ? $"read reply of {_data.Length} bytes for a {Size}-byte read" : null;

    internal override void ReleaseBuffers()
    {
        if (_pooled is { } p) { _pooled = null; ArrayPool<byte>.Shared.Return(p); }
        _data = default;
        base.ReleaseBuffers();
    }
}

public sealed class WriteRequest : FsRequest
{
    private uint _written;
    internal byte[]? Buffer;
    internal Connection.RequestBufferPool? Pool;
    public override Opcode Opcode => Opcode.Write;
    public ulong Fh { get; internal set; }
    public ulong Offset { get; internal set; }
    public uint Size => (uint)Data.Length;
    public uint WriteFlags { get; internal set; }
    public uint Flags { get; internal set; }
    /// <summary>The payload, straight from the device buffer. Valid only until the request is answered.</summary>
    public ReadOnlyMemory<byte> Data { get; internal set; }

    public bool Reply(uint written)
    {
        _written = written;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, new FuseWriteOut { Size = _written });
    internal override string? ValidateReply() => _written > Size ? $"write reply claims {_written} bytes of {Size}" : null;

    internal override void ReleaseBuffers()
    {
        Data = default;
        if (Buffer is { } b) { Buffer = null; Pool?.Return(b); }
        base.ReleaseBuffers();
    }
}

public sealed class StatFsRequest : FsRequest
{
    private StatFs _st;
    public override Opcode Opcode => Opcode.StatFs;

    public bool Reply(in StatFs st)
    {
        _st = st;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, new FuseKStatFs
    {
        Blocks = _st.Blocks, Bfree = _st.BlocksFree, Bavail = _st.BlocksAvailable, Files = _st.Files, Ffree = _st.FilesFree,
        Bsize = _st.BlockSize, NameLen = _st.NameLength, Frsize = _st.FragmentSize,
    });
}

/// <summary>RELEASE and RELEASEDIR: the last reference to an open handle went away. Errors are ignored by the kernel.</summary>
public sealed class ReleaseRequest : EmptyReplyRequest
{
    public override Opcode Opcode => IsDirectory ? Opcode.ReleaseDir : Opcode.Release;
    public bool IsDirectory { get; internal set; }
    public ulong Fh { get; internal set; }
    public uint Flags { get; internal set; }
    public uint ReleaseFlags { get; internal set; }
}

/// <summary>FSYNC and FSYNCDIR.</summary>
public sealed class FsyncRequest : EmptyReplyRequest
{
    public override Opcode Opcode => IsDirectory ? Opcode.FsyncDir : Opcode.Fsync;
    public bool IsDirectory { get; internal set; }
    public ulong Fh { get; internal set; }
    public bool DataSync { get; internal set; }
}

public sealed class FlushRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Flush;
    public ulong Fh { get; internal set; }
    public ulong LockOwner { get; internal set; }
}

public sealed class SetXAttrRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.SetXAttr;
    public string Name { get; internal set; } = "";
    public byte[] Value { get; internal set; } = [];
    /// <summary>XATTR_CREATE (1) or XATTR_REPLACE (2).</summary>
    public uint Flags { get; internal set; }
}

/// <summary>GETXATTR. Answer with the whole value: the engine answers the size-0 probe and ERANGE itself.</summary>
public sealed class GetXAttrRequest : FsRequest
{
    private byte[] _value = [];
    public override Opcode Opcode => Opcode.GetXAttr;
    public string Name { get; internal set; } = "";
    /// <summary>The caller's buffer size; 0 asks only for the value's length.</summary>
    public uint Size { get; internal set; }

    public bool Reply(byte[] value)
    {
        _value = value;
        if (Size != 0 && value.Length > Size) return Fail(Errno.ERANGE);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) =>
        Size == 0 ? Put(scratch, new FuseGetXAttrOut { Size = (uint)_value.Length }) : _value;
}

/// <summary>LISTXATTR. Answer with the names: the engine encodes them, and answers the size-0 probe and ERANGE.</summary>
public sealed class ListXAttrRequest : FsRequest
{
    private byte[] _names = [];
    public override Opcode Opcode => Opcode.ListXAttr;
    public uint Size { get; internal set; }

    public bool Reply(IEnumerable<string> names)
    {
        var sb = new StringBuilder();
        foreach (var n in names) sb.Append(n).Append('\0');
        _names = Encoding.UTF8.GetBytes(sb.ToString());
        if (Size != 0 && _names.Length > Size) return Fail(Errno.ERANGE);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) =>
        Size == 0 ? Put(scratch, new FuseGetXAttrOut { Size = (uint)_names.Length }) : _names;
}

public sealed class RemoveXAttrRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.RemoveXAttr;
    public string Name { get; internal set; } = "";
}

public sealed class AccessRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Access;
    /// <summary>R_OK 4, W_OK 2, X_OK 1 (0 = existence).</summary>
    public uint Mask { get; internal set; }
}

public sealed class FallocateRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Fallocate;
    public ulong Fh { get; internal set; }
    public ulong Offset { get; internal set; }
    public ulong Length { get; internal set; }
    /// <summary>FALLOC_FL_* bits (KEEP_SIZE 1, PUNCH_HOLE 2, ...).</summary>
    public uint Mode { get; internal set; }
}

public sealed class LseekRequest : FsRequest
{
    private ulong _offset;
    public override Opcode Opcode => Opcode.Lseek;
    public ulong Fh { get; internal set; }
    public ulong Offset { get; internal set; }
    /// <summary>SEEK_DATA (3) or SEEK_HOLE (4); the kernel handles the others itself.</summary>
    public uint Whence { get; internal set; }

    public bool Reply(ulong offset)
    {
        _offset = offset;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) => Put(scratch, new FuseLseekOut { Offset = _offset });
}

/// <summary>COPY_FILE_RANGE and COPY_FILE_RANGE_64.</summary>
public sealed class CopyFileRangeRequest : FsRequest
{
    private ulong _copied;
    public override Opcode Opcode => Is64 ? Opcode.CopyFileRange64 : Opcode.CopyFileRange;
    public bool Is64 { get; internal set; }
    public ulong FhIn { get; internal set; }
    public ulong OffsetIn { get; internal set; }
    public ulong NodeIdOut { get; internal set; }
    public ulong FhOut { get; internal set; }
    public ulong OffsetOut { get; internal set; }
    public ulong Length { get; internal set; }
    public ulong Flags { get; internal set; }

    public bool Reply(ulong copied)
    {
        _copied = copied;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, ReplySettings s) =>
        Is64 ? Put(scratch, new FuseCopyFileRangeOut { BytesCopied = _copied }) : Put(scratch, new FuseWriteOut { Size = (uint)Math.Min(_copied, uint.MaxValue) });

    internal override string? ValidateReply() => _copied > Length ? $"copy_file_range reply claims {_copied} of {Length} bytes" : null;

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = NodeIdOut;
        return 2;
    }
}

/// <summary>The connection is going away (sent by the engine on unmount, and by the kernel for fuseblk).</summary>
public sealed class DestroyRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Destroy;
}

internal static class AttrValidator
{
    public static string? Check(in FuseAttr a)
    {
        if (!ModeBits.IsValidType(a.Mode)) return $"attributes with invalid file type in mode 0{Convert.ToString(a.Mode, 8)}";
        if (a.Size > long.MaxValue) return "attributes with size above INT64_MAX";
        if (a.AtimeNsec >= 1_000_000_000 || a.MtimeNsec >= 1_000_000_000 || a.CtimeNsec >= 1_000_000_000) return "attributes with nanoseconds >= 1e9";
        return null;
    }
}
