using System.Text;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// Typed, asynchronous filesystem operations over a <see cref="VirtualDevice"/> — what the kernel's VFS does for a
/// syscall. Every operation takes a <see cref="CancellationToken"/> that interrupts it exactly as a signal does in the
/// seed: a request not yet read by the daemon is dequeued; one already read is backgrounded, a FUSE_INTERRUPT is
/// queued, and the operation fails with EINTR at once. Failures throw <see cref="FuseErrnoException"/>.
/// <para>
/// Node-returning operations (lookup, mkdir, mknod, symlink, link, create, readdirplus entries) each hand the caller one
/// lookup of the node; give it back with <see cref="Forget"/>. Open handles are given back with
/// <see cref="ReleaseAsync"/> / <see cref="ReleaseDirAsync"/>.
/// </para>
/// </summary>
public sealed class VfsClient
{
    private readonly SharedState _shared;

    public VfsClient(VirtualDevice device, FuseCaller? caller = null, VfsClientOptions? options = null)
    {
        Device = device ?? throw new ArgumentNullException(nameof(device));
        Caller = caller ?? FuseCaller.Root;
        Options = options ?? new VfsClientOptions();
        _shared = new SharedState();
    }

    private VfsClient(VfsClient other, FuseCaller caller)
    {
        Device = other.Device;
        Options = other.Options;
        _shared = other._shared;
        Caller = caller;
    }

    public VirtualDevice Device { get; }
    public FuseCaller Caller { get; }
    public VfsClientOptions Options { get; }

    /// <summary>The same client acting for another caller (uid/gid/pid in the request headers).</summary>
    public VfsClient As(FuseCaller caller) => new(this, caller);

    public const ulong RootId = FuseConstants.RootId;

    /// <summary>Test seam: runs after a CREATE reply arrived and before the client checks whether its caller was
    /// interrupted meanwhile.</summary>
    internal Action? AfterCreateReply { get; set; }

    /// <summary>What all clients of one connection (<see cref="As"/>) share.</summary>
    private sealed class SharedState
    {
        /// <summary>The kernel's no_access, no_flush, no_fsync ... bits: the operations the filesystem answered ENOSYS.</summary>
        public readonly SwitchedOffOperations SwitchedOff = new();
    }

    // ================================================================== raw

    /// <summary>Sends any request and returns the raw reply (no exception for errors).</summary>
    public Task<VirtualReply> SendAsync(VirtualRequest request, CancellationToken cancellationToken = default) =>
        Device.SendAsync(request, Caller, cancellationToken);

    private async Task<VirtualReply> CallAsync(VirtualRequest request, CancellationToken ct)
    {
        var reply = await Device.SendAsync(request, Caller, ct).ConfigureAwait(false);
        if (!reply.IsOk) throw new FuseErrnoException(reply.Error, request.Opcode);
        return reply;
    }

    /// <summary>What the kernel's path walk refuses before any request: an empty name, '/' or NUL in it (a name is
    /// one path component), more than NAME_MAX bytes. Any other bytes go to the filesystem as they are.</summary>
    private static void CheckName(FileName name, Opcode op)
    {
        if (name.IsEmpty) throw new FuseErrnoException(Errno.ENOENT, op, "empty name");
        if (!name.IsValid) throw new FuseErrnoException(Errno.EINVAL, op, $"invalid name '{name}'");
        if (name.Length > FuseConstants.NameMax) throw new FuseErrnoException(Errno.ENAMETOOLONG, op);
    }

    /// <summary>The kernel applies the caller's umask to a new node's mode itself, unless the filesystem asked for
    /// DONT_MASK (it then applies it, e.g. with default ACLs); the umask is sent along either way.</summary>
    private uint Masked(uint mode, uint umask) =>
        (Device.NegotiatedFlags & InitFlags.DontMask) != 0 ? mode : mode & ~(umask & 0x1FF);

    private static VfsEntry EntryFrom(VirtualReply reply, Opcode op)
    {
        var e = reply.Read<FuseEntryOut>();
        if (e.NodeId == 0) throw new FuseErrnoException(Errno.ENOENT, op);
        return VfsEntry.From(e);
    }

    // ================================================================== names

    /// <summary>LOOKUP: the node called <paramref name="name"/> in directory <paramref name="parent"/> (one lookup held).</summary>
    public async Task<VfsEntry> LookupAsync(ulong parent, FileName name, CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.Lookup);
        if (Options.UseNegativeEntryCache && Device.Cache.TryGetEntry(parent, name, out var cached) && cached == 0)
            throw new FuseErrnoException(Errno.ENOENT, Opcode.Lookup, "cached negative entry");
        var req = new VirtualRequest(Opcode.Lookup, parent, Wire.CString(name.Bytes));
        return EntryFrom(await CallAsync(req, cancellationToken).ConfigureAwait(false), Opcode.Lookup);
    }

    public async Task<VfsEntry> MkDirAsync(ulong parent, FileName name, uint mode = 0x1ED /*0755*/, uint umask = 0,
        CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.MkDir);
        var body = Wire.Build().Struct(new FuseMkDirIn { Mode = Masked(mode & 0xFFF, umask), Umask = umask }).Name(name).ToArray();
        return EntryFrom(await CallAsync(new VirtualRequest(Opcode.MkDir, parent, body), cancellationToken).ConfigureAwait(false), Opcode.MkDir);
    }

    /// <summary>MKNOD; <paramref name="mode"/> includes the S_IF type (S_IFREG, S_IFIFO, S_IFCHR ...).</summary>
    public async Task<VfsEntry> MkNodAsync(ulong parent, FileName name, uint mode, uint rdev = 0, uint umask = 0,
        CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.MkNod);
        var body = Wire.Build().Struct(new FuseMkNodIn { Mode = Masked(mode, umask), Rdev = rdev, Umask = umask }).Name(name).ToArray();
        return EntryFrom(await CallAsync(new VirtualRequest(Opcode.MkNod, parent, body), cancellationToken).ConfigureAwait(false), Opcode.MkNod);
    }

    /// <summary>SYMLINK with a text target (UTF-8 encoded).</summary>
    public Task<VfsEntry> SymlinkAsync(ulong parent, FileName name, string target, CancellationToken cancellationToken = default) =>
        SymlinkAsync(parent, name, Encoding.UTF8.GetBytes(target), cancellationToken);

    /// <summary>SYMLINK: <paramref name="target"/> is bytes, as a Linux symlink's target is (it may name a file whose
    /// name is not UTF-8).</summary>
    public async Task<VfsEntry> SymlinkAsync(ulong parent, FileName name, byte[] target, CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.Symlink);
        var body = Wire.Build().Name(name).Name(target.AsSpan()).ToArray();
        return EntryFrom(await CallAsync(new VirtualRequest(Opcode.Symlink, parent, body), cancellationToken).ConfigureAwait(false), Opcode.Symlink);
    }

    /// <summary>LINK: a new name <paramref name="newName"/> in <paramref name="newParent"/> for <paramref name="nodeId"/>.</summary>
    public async Task<VfsEntry> LinkAsync(ulong nodeId, ulong newParent, FileName newName, CancellationToken cancellationToken = default)
    {
        CheckName(newName, Opcode.Link);
        var body = Wire.Build().Struct(new FuseLinkIn { OldNodeId = nodeId }).Name(newName).ToArray();
        var req = new VirtualRequest(Opcode.Link, newParent, body, nodeRefs: [newParent, nodeId]);
        return EntryFrom(await CallAsync(req, cancellationToken).ConfigureAwait(false), Opcode.Link);
    }

    public async Task UnlinkAsync(ulong parent, FileName name, CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.Unlink);
        await CallAsync(new VirtualRequest(Opcode.Unlink, parent, Wire.CString(name.Bytes)), cancellationToken).ConfigureAwait(false);
    }

    public async Task RmDirAsync(ulong parent, FileName name, CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.RmDir);
        await CallAsync(new VirtualRequest(Opcode.RmDir, parent, Wire.CString(name.Bytes)), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>RENAME, or RENAME2 when <paramref name="flags"/> ≠ 0 (NOREPLACE=1, EXCHANGE=2, WHITEOUT=4).</summary>
    public async Task RenameAsync(ulong parent, FileName name, ulong newParent, FileName newName, uint flags = 0,
        CancellationToken cancellationToken = default)
    {
        var op = flags == 0 ? Opcode.Rename : Opcode.Rename2;
        CheckName(name, op);
        CheckName(newName, op);
        var b = Wire.Build();
        if (flags == 0) b.Struct(new FuseRenameIn { NewDir = newParent });
        else b.Struct(new FuseRename2In { NewDir = newParent, Flags = flags });
        var body = b.Name(name).Name(newName).ToArray();
        await CallAsync(new VirtualRequest(op, parent, body, nodeRefs: [parent, newParent]), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>READLINK decoded as UTF-8 (for targets known to be text; see <see cref="ReadLinkBytesAsync"/>).</summary>
    public async Task<string> ReadLinkAsync(ulong nodeId, CancellationToken cancellationToken = default) =>
        Encoding.UTF8.GetString(await ReadLinkBytesAsync(nodeId, cancellationToken).ConfigureAwait(false));

    /// <summary>READLINK: the target's exact bytes.</summary>
    public async Task<byte[]> ReadLinkBytesAsync(ulong nodeId, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.ReadLink, nodeId), cancellationToken).ConfigureAwait(false);
        return reply.Payload.ToArray();
    }

    /// <summary>Gives back <paramref name="nlookup"/> lookups of a node (FORGET; several queued forgets go out as one
    /// BATCH_FORGET). Never waits and never fails; ignored after disconnect.</summary>
    public void Forget(ulong nodeId, ulong nlookup = 1) => Device.Forget(nodeId, nlookup);

    /// <summary>Forgets one lookup of each entry that holds one.</summary>
    public void Forget(IEnumerable<VfsDirEntryPlus> entries)
    {
        foreach (var e in entries)
            if (e.HoldsLookup) Device.Forget(e.Entry.NodeId);
    }

    // ================================================================== attributes

    /// <summary>GETATTR, answered from the attribute cache while it is valid (unless <paramref name="fh"/> is given or
    /// <see cref="VfsClientOptions.UseAttrCache"/> is off).</summary>
    public async Task<VfsAttr> GetAttrAsync(ulong nodeId, ulong? fh = null, CancellationToken cancellationToken = default)
    {
        if (fh is null && Options.UseAttrCache && Device.Cache.TryGetAttr(nodeId, out var cached))
            return new VfsAttr(cached, TimeSpan.Zero, FromCache: true);
        var body = Wire.Bytes(new FuseGetAttrIn { GetAttrFlags = fh is null ? 0 : FuseConstants.GetAttrFh, Fh = fh ?? 0 });
        var reply = await CallAsync(new VirtualRequest(Opcode.GetAttr, nodeId, body), cancellationToken).ConfigureAwait(false);
        var ao = reply.Read<FuseAttrOut>();
        return new VfsAttr(ao.Attr, VfsEntry.Timeout(ao.AttrValid, ao.AttrValidNsec));
    }

    /// <summary>SETATTR with a raw fuse_setattr_in (set <c>Valid</c> to the FATTR_* bits).</summary>
    public async Task<VfsAttr> SetAttrAsync(ulong nodeId, FuseSetAttrIn attr, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.SetAttr, nodeId, Wire.Bytes(attr)), cancellationToken).ConfigureAwait(false);
        var ao = reply.Read<FuseAttrOut>();
        return new VfsAttr(ao.Attr, VfsEntry.Timeout(ao.AttrValid, ao.AttrValidNsec));
    }

    public Task<VfsAttr> TruncateAsync(ulong nodeId, ulong size, ulong? fh = null, CancellationToken cancellationToken = default) =>
        SetAttrAsync(nodeId, new FuseSetAttrIn
        {
            Valid = FuseConstants.FattrSize | (fh is null ? 0 : FuseConstants.FattrFh),
            Size = size,
            Fh = fh ?? 0,
        }, cancellationToken);

    public Task<VfsAttr> ChmodAsync(ulong nodeId, uint mode, CancellationToken cancellationToken = default) =>
        SetAttrAsync(nodeId, new FuseSetAttrIn { Valid = FuseConstants.FattrMode, Mode = mode }, cancellationToken);

    public Task<VfsAttr> ChownAsync(ulong nodeId, uint? uid, uint? gid, CancellationToken cancellationToken = default) =>
        SetAttrAsync(nodeId, new FuseSetAttrIn
        {
            Valid = (uid is null ? 0 : FuseConstants.FattrUid) | (gid is null ? 0 : FuseConstants.FattrGid),
            Uid = uid ?? 0,
            Gid = gid ?? 0,
        }, cancellationToken);

    public Task<VfsAttr> SetTimesAsync(ulong nodeId, DateTimeOffset? atime, DateTimeOffset? mtime, CancellationToken cancellationToken = default)
    {
        var s = new FuseSetAttrIn();
        if (atime is { } a)
        {
            s.Valid |= FuseConstants.FattrAtime;
            s.Atime = (ulong)a.ToUnixTimeSeconds();
            s.AtimeNsec = (uint)(a.Ticks % TimeSpan.TicksPerSecond * 100);
        }
        if (mtime is { } m)
        {
            s.Valid |= FuseConstants.FattrMtime;
            s.Mtime = (ulong)m.ToUnixTimeSeconds();
            s.MtimeNsec = (uint)(m.Ticks % TimeSpan.TicksPerSecond * 100);
        }
        return SetAttrAsync(nodeId, s, cancellationToken);
    }

    /// <summary>ACCESS with R_OK/W_OK/X_OK bits. ENOSYS is taken as "allowed" and ACCESS is not sent again.</summary>
    public async Task AccessAsync(ulong nodeId, uint mask, CancellationToken cancellationToken = default)
    {
        if (_shared.SwitchedOff.IsOff(Opcode.Access)) return;
        var reply = await Device.SendAsync(new VirtualRequest(Opcode.Access, nodeId, Wire.Bytes(new FuseAccessIn { Mask = mask })),
            Caller, cancellationToken).ConfigureAwait(false);
        if (_shared.SwitchedOff.Note(Opcode.Access, reply.Error)) return;
        if (!reply.IsOk) throw new FuseErrnoException(reply.Error, Opcode.Access);
    }

    public async Task<FuseKStatFs> StatFsAsync(ulong nodeId = RootId, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.StatFs, nodeId), cancellationToken).ConfigureAwait(false);
        return reply.Read<FuseStatFsOut>().St;
    }

    // ================================================================== files

    /// <summary>CREATE: a new regular file, opened. <paramref name="mode"/> may omit S_IFREG. If the caller is interrupted
    /// after the CREATE succeeded, the file is released in the background and its lookup forgotten after that, as the
    /// seed does for a failed CREATE; the call then fails with EINTR.</summary>
    public async Task<VfsCreated> CreateAsync(ulong parent, FileName name, int flags = Posix.O_RDWR | Posix.O_CREAT,
        uint mode = 0x1A4 /*0644*/, uint umask = 0, CancellationToken cancellationToken = default)
    {
        CheckName(name, Opcode.Create);
        if ((mode & Posix.S_IFMT) == 0) mode |= Posix.S_IFREG;
        flags |= Posix.O_CREAT;
        var body = Wire.Build().Struct(new FuseCreateIn { Flags = (uint)flags, Mode = Masked(mode, umask), Umask = umask }).Name(name).ToArray();
        var reply = await CallAsync(new VirtualRequest(Opcode.Create, parent, body), cancellationToken).ConfigureAwait(false);
        var e = reply.Read<FuseEntryOut>();
        var o = reply.Read<FuseOpenOut>(Wire.SizeOf<FuseEntryOut>());
        AfterCreateReply?.Invoke();
        if (cancellationToken.IsCancellationRequested)
        {
            var rin = new FuseReleaseIn { Fh = o.Fh, Flags = (uint)flags & ~(uint)(Posix.O_CREAT | Posix.O_EXCL | Posix.O_TRUNC) };
            _ = Device.SendBackground(new VirtualRequest(Opcode.Release, e.NodeId, Wire.Bytes(rin)), Caller, forgetAfter: e.NodeId);
            throw new FuseErrnoException(Errno.EINTR, Opcode.Create, "interrupted after the file was created");
        }
        var entry = VfsEntry.From(e);
        return new VfsCreated(entry, new VfsHandle(e.NodeId, o.Fh, o.OpenFlags, (uint)flags));
    }

    /// <summary>OPEN (flags as for open(2); O_CREAT, O_EXCL and O_NOCTTY are stripped as the kernel does).</summary>
    public async Task<VfsHandle> OpenAsync(ulong nodeId, int flags = Posix.O_RDONLY, CancellationToken cancellationToken = default)
    {
        uint f = (uint)flags & ~(uint)(Posix.O_CREAT | Posix.O_EXCL | 0x100 /*O_NOCTTY*/);
        var reply = await CallAsync(new VirtualRequest(Opcode.Open, nodeId, Wire.Bytes(new FuseOpenIn { Flags = f })), cancellationToken)
            .ConfigureAwait(false);
        var o = reply.Read<FuseOpenOut>();
        return new VfsHandle(nodeId, o.Fh, o.OpenFlags, f);
    }

    public async Task<VfsHandle> OpenDirAsync(ulong nodeId, int flags = Posix.O_RDONLY | Posix.O_DIRECTORY, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.OpenDir, nodeId, Wire.Bytes(new FuseOpenIn { Flags = (uint)flags })), cancellationToken)
            .ConfigureAwait(false);
        var o = reply.Read<FuseOpenOut>();
        return new VfsHandle(nodeId, o.Fh, o.OpenFlags, (uint)flags);
    }

    /// <summary>READ of at most <paramref name="size"/> bytes at <paramref name="offset"/>; shorter at end of file.</summary>
    public async Task<byte[]> ReadAsync(VfsHandle handle, ulong offset, int size, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        var rin = new FuseReadIn { Fh = handle.Fh, Offset = offset, Size = (uint)size, Flags = handle.Flags };
        var reply = await CallAsync(new VirtualRequest(Opcode.Read, handle.NodeId, Wire.Bytes(rin)), cancellationToken).ConfigureAwait(false);
        return reply.Payload.ToArray();
    }

    /// <summary>WRITE, split into requests of at most max_write bytes like the kernel does. Returns the bytes written
    /// (less than asked when the filesystem writes short). A reply claiming more than was sent gives EIO.</summary>
    public async Task<long> WriteAsync(VfsHandle handle, ulong offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        int max = (int)Math.Max(4096u, Device.MaxWrite);
        long total = 0;
        if (data.IsEmpty) return 0;
        do
        {
            var chunk = data.Slice((int)total, Math.Min(max, data.Length - (int)total));
            var win = new FuseWriteIn { Fh = handle.Fh, Offset = offset + (ulong)total, Size = (uint)chunk.Length, Flags = handle.Flags };
            var body = Wire.Build().Struct(win).Raw(chunk.Span).ToArray();
            var reply = await CallAsync(new VirtualRequest(Opcode.Write, handle.NodeId, body), cancellationToken).ConfigureAwait(false);
            uint written = reply.Read<FuseWriteOut>().Size;
            if (written > chunk.Length) throw new FuseErrnoException(Errno.EIO, Opcode.Write, $"wrote {written} of {chunk.Length}");
            total += written;
            if (written < chunk.Length) break;
        } while (total < data.Length);
        return total;
    }

    /// <summary>RELEASE, sent in the background (never blocks, never interrupted); completes when the filesystem
    /// answered. Errors are ignored, as the kernel ignores them.</summary>
    public Task ReleaseAsync(VfsHandle handle, uint releaseFlags = 0, ulong lockOwner = 0) =>
        Device.SendBackground(new VirtualRequest(Opcode.Release, handle.NodeId,
            Wire.Bytes(new FuseReleaseIn { Fh = handle.Fh, Flags = handle.Flags, ReleaseFlags = releaseFlags, LockOwner = lockOwner })), Caller);

    public Task ReleaseDirAsync(VfsHandle handle) =>
        Device.SendBackground(new VirtualRequest(Opcode.ReleaseDir, handle.NodeId,
            Wire.Bytes(new FuseReleaseIn { Fh = handle.Fh, Flags = handle.Flags })), Caller);

    /// <summary>FLUSH (sent on every close of a descriptor). ENOSYS is success, and FLUSH is not sent again (the kernel's no_flush).</summary>
    public async Task FlushAsync(VfsHandle handle, ulong lockOwner = 0, CancellationToken cancellationToken = default)
    {
        if (_shared.SwitchedOff.IsOff(Opcode.Flush)) return;
        var reply = await Device.SendAsync(new VirtualRequest(Opcode.Flush, handle.NodeId,
            Wire.Bytes(new FuseFlushIn { Fh = handle.Fh, LockOwner = lockOwner })), Caller, cancellationToken).ConfigureAwait(false);
        if (_shared.SwitchedOff.Note(Opcode.Flush, reply.Error)) return;
        if (!reply.IsOk) throw new FuseErrnoException(reply.Error, Opcode.Flush);
    }

    /// <summary>FSYNC. ENOSYS is success, and FSYNC is not sent again (the kernel's no_fsync).</summary>
    public async Task FsyncAsync(VfsHandle handle, bool dataOnly = false, CancellationToken cancellationToken = default)
    {
        if (_shared.SwitchedOff.IsOff(Opcode.Fsync)) return;
        await SendFsyncAsync(Opcode.Fsync, handle, dataOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>FSYNCDIR. ENOSYS is success, and FSYNCDIR is not sent again (the kernel's no_fsyncdir).</summary>
    public async Task FsyncDirAsync(VfsHandle handle, bool dataOnly = false, CancellationToken cancellationToken = default)
    {
        if (_shared.SwitchedOff.IsOff(Opcode.FsyncDir)) return;
        await SendFsyncAsync(Opcode.FsyncDir, handle, dataOnly, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends FSYNC or FSYNCDIR; an ENOSYS switches it off and counts as success.</summary>
    private async Task SendFsyncAsync(Opcode opcode, VfsHandle handle, bool dataOnly, CancellationToken cancellationToken)
    {
        var reply = await Device.SendAsync(new VirtualRequest(opcode, handle.NodeId,
            Wire.Bytes(new FuseFsyncIn { Fh = handle.Fh, FsyncFlags = dataOnly ? FuseConstants.FsyncFdataSync : 0 })), Caller, cancellationToken).ConfigureAwait(false);
        if (_shared.SwitchedOff.Note(opcode, reply.Error)) return;
        if (!reply.IsOk) throw new FuseErrnoException(reply.Error, opcode);
    }

    public async Task FallocateAsync(VfsHandle handle, ulong offset, ulong length, uint mode = 0, CancellationToken cancellationToken = default) =>
        await CallAsync(new VirtualRequest(Opcode.Fallocate, handle.NodeId,
            Wire.Bytes(new FuseFallocateIn { Fh = handle.Fh, Offset = offset, Length = length, Mode = mode })), cancellationToken).ConfigureAwait(false);

    /// <summary>LSEEK (SEEK_DATA / SEEK_HOLE reach the filesystem); returns the new offset.</summary>
    public async Task<ulong> LseekAsync(VfsHandle handle, ulong offset, int whence, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.Lseek, handle.NodeId,
            Wire.Bytes(new FuseLseekIn { Fh = handle.Fh, Offset = offset, Whence = (uint)whence })), cancellationToken).ConfigureAwait(false);
        return reply.Read<FuseLseekOut>().Offset;
    }

    /// <summary>COPY_FILE_RANGE_64, falling back to COPY_FILE_RANGE (32-bit count) for good after an ENOSYS, as 6.18 does.
    /// Returns the bytes copied.</summary>
    public async Task<ulong> CopyFileRangeAsync(VfsHandle source, ulong sourceOffset, VfsHandle target, ulong targetOffset,
        ulong length, ulong flags = 0, CancellationToken cancellationToken = default)
    {
        var cin = new FuseCopyFileRangeIn
        {
            FhIn = source.Fh, OffIn = sourceOffset, NodeIdOut = target.NodeId, FhOut = target.Fh, OffOut = targetOffset,
            Len = length, Flags = flags,
        };
        IReadOnlyList<ulong> refs = [source.NodeId, target.NodeId];
        if (!_shared.SwitchedOff.IsOff(Opcode.CopyFileRange64))
        {
            var r64 = await Device.SendAsync(new VirtualRequest(Opcode.CopyFileRange64, source.NodeId, Wire.Bytes(cin), nodeRefs: refs),
                Caller, cancellationToken).ConfigureAwait(false);
            if (r64.IsOk) return r64.Read<FuseCopyFileRangeOut>().BytesCopied;
            if (!_shared.SwitchedOff.Note(Opcode.CopyFileRange64, r64.Error)) throw new FuseErrnoException(r64.Error, Opcode.CopyFileRange64);
        }
        cin.Len = Math.Min(length, uint.MaxValue & ~(ulong)(FuseConstants.PageSize - 1));
        var reply = await CallAsync(new VirtualRequest(Opcode.CopyFileRange, source.NodeId, Wire.Bytes(cin), nodeRefs: refs), cancellationToken)
            .ConfigureAwait(false);
        return reply.Read<FuseWriteOut>().Size;
    }

    public async Task<ulong> BmapAsync(ulong nodeId, ulong block, uint blockSize, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(new VirtualRequest(Opcode.Bmap, nodeId, Wire.Bytes(new FuseBmapIn { Block = block, BlockSize = blockSize })),
            cancellationToken).ConfigureAwait(false);
        return reply.Read<FuseBmapOut>().Block;
    }

    // ================================================================== directories

    /// <summary>One READDIR: the records that fit in <paramref name="size"/> bytes from cookie <paramref name="offset"/>
    /// (empty at the end of the directory).</summary>
    public async Task<IReadOnlyList<VfsDirEntry>> ReadDirAsync(VfsHandle dir, ulong offset = 0, int size = 32768,
        CancellationToken cancellationToken = default)
    {
        var rin = new FuseReadIn { Fh = dir.Fh, Offset = offset, Size = (uint)size, Flags = dir.Flags };
        var reply = await CallAsync(new VirtualRequest(Opcode.ReadDir, dir.NodeId, Wire.Bytes(rin)), cancellationToken).ConfigureAwait(false);
        var records = new List<Dirent>();
        if (!Dirents.TryParse(reply.Payload.Span, records))
            throw new FuseErrnoException(Errno.EIO, Opcode.ReadDir, "malformed directory record");
        var list = new List<VfsDirEntry>(records.Count);
        foreach (var d in records) list.Add(VfsDirEntry.From(d));
        return list;
    }

    /// <summary>One READDIRPLUS. Entries with <see cref="VfsDirEntryPlus.HoldsLookup"/> each hold a lookup to forget.</summary>
    public async Task<IReadOnlyList<VfsDirEntryPlus>> ReadDirPlusAsync(VfsHandle dir, ulong offset = 0, int size = 32768,
        CancellationToken cancellationToken = default)
    {
        var rin = new FuseReadIn { Fh = dir.Fh, Offset = offset, Size = (uint)size, Flags = dir.Flags };
        var reply = await CallAsync(new VirtualRequest(Opcode.ReadDirPlus, dir.NodeId, Wire.Bytes(rin)), cancellationToken).ConfigureAwait(false);
        var records = new List<DirentPlus>();
        Dirents.TryParsePlus(reply.Payload.Span, records); // the device already failed malformed replies with EIO
        var list = new List<VfsDirEntryPlus>(records.Count);
        foreach (var (e, d) in records)
            list.Add(new VfsDirEntryPlus(VfsDirEntry.From(d), VfsEntry.From(e), VfsDirEntryPlus.HoldsLookupFor(e, d.Name)));
        return list;
    }

    /// <summary>Reads a whole open directory with READDIR, following the cookies until an empty reply.</summary>
    public async Task<IReadOnlyList<VfsDirEntry>> ReadDirAllAsync(VfsHandle dir, CancellationToken cancellationToken = default)
    {
        var all = new List<VfsDirEntry>();
        ulong offset = 0;
        while (true)
        {
            var batch = await ReadDirAsync(dir, offset, 32768, cancellationToken).ConfigureAwait(false);
            if (batch.Count == 0) return all;
            all.AddRange(batch);
            ulong next = batch[^1].Offset;
            if (next == offset) return all; // a filesystem that does not advance: stop rather than loop
            offset = next;
        }
    }

    // ================================================================== xattrs

    /// <summary>SETXATTR (flags XATTR_CREATE=1 / XATTR_REPLACE=2). The 16-byte fuse_setxattr_in when SETXATTR_EXT was
    /// negotiated, else its first 8 bytes.</summary>
    public Task SetXAttrAsync(ulong nodeId, string name, ReadOnlyMemory<byte> value, uint flags = 0,
        CancellationToken cancellationToken = default) =>
        SetXAttrAsync(nodeId, Encoding.UTF8.GetBytes(name), value, flags, cancellationToken);

    /// <summary>SETXATTR with the attribute name as bytes.</summary>
    public async Task SetXAttrAsync(ulong nodeId, byte[] name, ReadOnlyMemory<byte> value, uint flags = 0,
        CancellationToken cancellationToken = default)
    {
        var sin = new FuseSetXAttrIn { Size = (uint)value.Length, Flags = flags };
        bool ext = (Device.NegotiatedFlags & InitFlags.SetXAttrExt) != 0;
        var b = Wire.Build();
        if (ext) b.Struct(sin); else b.StructPrefix(sin, 8);
        var body = b.Name(name.AsSpan()).Raw(value.Span).ToArray();
        await CallAsync(new VirtualRequest(Opcode.SetXAttr, nodeId, body), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GETXATTR with a buffer of <paramref name="size"/> bytes (&gt; 0): the value, or ERANGE if it does not fit.
    /// Probe the size with <see cref="GetXAttrSizeAsync"/>.</summary>
    public Task<byte[]> GetXAttrAsync(ulong nodeId, string name, uint size, CancellationToken cancellationToken = default) =>
        GetXAttrAsync(nodeId, Encoding.UTF8.GetBytes(name), size, cancellationToken);

    public async Task<byte[]> GetXAttrAsync(ulong nodeId, byte[] name, uint size, CancellationToken cancellationToken = default)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "use GetXAttrSizeAsync to probe the size");
        var body = Wire.Build().Struct(new FuseGetXAttrIn { Size = size }).Name(name.AsSpan()).ToArray();
        var reply = await CallAsync(new VirtualRequest(Opcode.GetXAttr, nodeId, body), cancellationToken).ConfigureAwait(false);
        return reply.Payload.ToArray();
    }

    /// <summary>GETXATTR with size 0: the size of the value.</summary>
    public Task<uint> GetXAttrSizeAsync(ulong nodeId, string name, CancellationToken cancellationToken = default) =>
        GetXAttrSizeAsync(nodeId, Encoding.UTF8.GetBytes(name), cancellationToken);

    public async Task<uint> GetXAttrSizeAsync(ulong nodeId, byte[] name, CancellationToken cancellationToken = default)
    {
        var body = Wire.Build().Struct(new FuseGetXAttrIn { Size = 0 }).Name(name.AsSpan()).ToArray();
        var reply = await CallAsync(new VirtualRequest(Opcode.GetXAttr, nodeId, body), cancellationToken).ConfigureAwait(false);
        return reply.Read<FuseGetXAttrOut>().Size;
    }

    /// <summary>The whole value: a size probe, then the value (retried if it grew meanwhile).</summary>
    public Task<byte[]> GetXAttrAsync(ulong nodeId, string name, CancellationToken cancellationToken = default) =>
        GetXAttrAsync(nodeId, Encoding.UTF8.GetBytes(name), cancellationToken);

    public async Task<byte[]> GetXAttrAsync(ulong nodeId, byte[] name, CancellationToken cancellationToken = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            uint size = await GetXAttrSizeAsync(nodeId, name, cancellationToken).ConfigureAwait(false);
            if (size == 0) return [];
            try
            {
                return await GetXAttrAsync(nodeId, name, size, cancellationToken).ConfigureAwait(false);
            }
            catch (FuseErrnoException e) when (e.Errno == Errno.ERANGE && attempt < 3) { }
        }
    }

    /// <summary>LISTXATTR: the attribute names decoded as UTF-8 (see <see cref="ListXAttrBytesAsync"/> for the bytes).</summary>
    public async Task<IReadOnlyList<string>> ListXAttrAsync(ulong nodeId, CancellationToken cancellationToken = default)
    {
        var names = await ListXAttrBytesAsync(nodeId, cancellationToken).ConfigureAwait(false);
        var list = new string[names.Count];
        for (int i = 0; i < list.Length; i++) list[i] = Encoding.UTF8.GetString(names[i]);
        return list;
    }

    /// <summary>LISTXATTR: the attribute names' exact bytes (a size probe, then the list).</summary>
    public async Task<IReadOnlyList<byte[]>> ListXAttrBytesAsync(ulong nodeId, CancellationToken cancellationToken = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            var probe = await CallAsync(new VirtualRequest(Opcode.ListXAttr, nodeId, Wire.Bytes(new FuseGetXAttrIn { Size = 0 })), cancellationToken)
                .ConfigureAwait(false);
            uint size = probe.Read<FuseGetXAttrOut>().Size;
            if (size == 0) return [];
            var reply = await Device.SendAsync(new VirtualRequest(Opcode.ListXAttr, nodeId, Wire.Bytes(new FuseGetXAttrIn { Size = size })),
                Caller, cancellationToken).ConfigureAwait(false);
            if (reply.Error == Errno.ERANGE && attempt < 3) continue;
            if (!reply.IsOk) throw new FuseErrnoException(reply.Error, Opcode.ListXAttr);
            var names = new List<byte[]>();
            var rest = reply.Payload.Span;
            while (!rest.IsEmpty)
            {
                var name = Wire.ReadCBytes(rest, out int used);
                if (!name.IsEmpty) names.Add(name.ToArray());
                rest = rest[used..];
            }
            return names;
        }
    }

    public Task RemoveXAttrAsync(ulong nodeId, string name, CancellationToken cancellationToken = default) =>
        RemoveXAttrAsync(nodeId, Encoding.UTF8.GetBytes(name), cancellationToken);

    public async Task RemoveXAttrAsync(ulong nodeId, byte[] name, CancellationToken cancellationToken = default) =>
        await CallAsync(new VirtualRequest(Opcode.RemoveXAttr, nodeId, Wire.CString(name.AsSpan())), cancellationToken).ConfigureAwait(false);
}
