using System.Buffers;
using System.Text;
using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>
/// An in-memory POSIX filesystem served by one actor: sparse chunked files, directories with stable readdir
/// cookies, symlinks, hard links, device nodes, xattrs, fallocate/SEEK_DATA/copy_file_range, and kernel lookup
/// counting. The mount is expected to use default_permissions: the kernel checks modes, this actor stores them.
/// All state belongs to the actor, so handlers never lock; errno paths never throw.
/// </summary>
public sealed class MemoryFs : FilesystemActor
{
    private const int MaxNameBytes = 255;
    private const int MaxSymlinkBytes = 4095;
    private const int MaxXattrNameBytes = 255;
    private const int MaxXattrValueBytes = 64 * 1024;
    /// <summary>Largest file size; far below long.MaxValue so chunk arithmetic can never overflow.</summary>
    internal const long MaxFileSize = 1L << 60;

    private const uint SeekDataWhence = 3;
    private const uint SeekHoleWhence = 4;

    private static readonly Props DefaultProps = Akka.Actor.Props.Create<MemoryFs>(MemoryFsOptions.Default);

    /// <summary>Props for a MemoryFs (reflection-free activation args, no expression compilation).</summary>
    public static Props Props(MemoryFsOptions? options = null) =>
        options is null ? DefaultProps : Akka.Actor.Props.Create<MemoryFs>(options);

    private readonly MemoryFsOptions _options;
    private readonly Dictionary<ulong, Inode> _nodes = new();
    private readonly Dictionary<ulong, Inode> _handles = new();
    private readonly Inode _root;
    private ulong _nextIno = FuseConstants.RootId + 1;
    private ulong _nextFh = 1;
    private long _usedBytes;
    // What inodes, their first name and symlink targets take (see MetadataCost), counted against the capacity with the data.
    private long _metadataBytes;
    private bool _spillErrorLogged;

    public MemoryFs() : this(MemoryFsOptions.Default) { }

    /// <summary>Open truncates the file itself (see Open), so the kernel may send O_TRUNC in OPEN: one round trip less than OPEN + SETATTR.</summary>
    protected override FilesystemCapabilities Capabilities => FilesystemCapabilities.HandlesOpenTruncate;

    public MemoryFs(MemoryFsOptions options)
    {
        _options = options;
        _root = new Inode(FuseConstants.RootId, ModeBits.Directory | (options.RootMode & ModeBits.PermMask),
            options.RootUid, options.RootGid, FsTime.Now);
        _root.Parent = _root;
        _nodes.Add(_root.Ino, _root);
    }

    // ---------------------------------------------------------------- names and attributes

    protected override void Lookup(LookupRequest r)
    {
        if (Dir(r, r.NodeId) is not { } dir) return;
        if (NameTooLong(r.Name)) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (!dir.Entries!.TryGet(r.Name, out var e)) { r.Fail(Errno.ENOENT); return; }
        ReplyEntry(r, e.Node);
    }

    protected override void Forget(ForgetRequest r)
    {
        foreach (ref readonly var f in r.Forgets)
        {
            if (!_nodes.TryGetValue(f.NodeId, out var n))
            {
                Log.Warning("FORGET of unknown node {Node}", f.NodeId);
                continue;
            }
            n.LookupCount = f.NLookup >= n.LookupCount ? 0 : n.LookupCount - f.NLookup;
            MaybeFree(n);
        }
    }

    protected override void GetAttr(GetAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        r.Reply(n.ToAttr());
    }

    protected override void SetAttr(SetAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        // Validate everything first, so a refused request changes nothing.
        if (r.SetsSize)
        {
            if (n.IsDirectory) { r.Fail(Errno.EISDIR); return; }
            if (n.Data is null) { r.Fail(Errno.EINVAL); return; }
            if (r.Size > MaxFileSize) { r.Fail(Errno.EFBIG); return; }
        }
        if ((r.SetsAtime && !r.AtimeNow && r.Atime.Nanoseconds >= 1_000_000_000)
            || (r.SetsMtime && !r.MtimeNow && r.Mtime.Nanoseconds >= 1_000_000_000)
            || (r.SetsCtime && r.Ctime.Nanoseconds >= 1_000_000_000))
        {
            r.Fail(Errno.EINVAL);
            return;
        }

        var now = FsTime.Now;
        // chmod sends the full mode; the file type is not the caller's to change.
        if (r.SetsMode) n.Mode = (n.Mode & ModeBits.TypeMask) | (r.Mode & ModeBits.PermMask);
        if (r.SetsUid) n.Uid = r.AttrUid;
        if (r.SetsGid) n.Gid = r.AttrGid;
        if (r.SetsSize)
        {
            // truncate always moves mtime (the kernel sends no MTIME bit with SIZE and expects the server to).
            long before = n.Data!.AllocatedBytes;
            var error = n.Data.Truncate((long)r.Size);
            _usedBytes += n.Data.AllocatedBytes - before;
            if (StoreFailed(r, error)) return;
            n.Mtime = now;
        }
        if (r.Has(SetAttrValid.KillSuidGid)) KillSuidGid(n);
        if (r.SetsAtime || r.AtimeNow) n.Atime = r.AtimeNow ? now : r.Atime;
        if (r.SetsMtime || r.MtimeNow) n.Mtime = r.MtimeNow ? now : r.Mtime;
        n.Ctime = r.SetsCtime ? r.Ctime : now;
        r.Reply(n.ToAttr());
    }

    protected override void ReadLink(ReadLinkRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (n.Target is null) { r.Fail(Errno.EINVAL); return; }
        r.Reply(n.Target);
    }

    // ---------------------------------------------------------------- creating and removing names

    protected override void MkNod(MkNodRequest r)
    {
        uint type = r.Mode & ModeBits.TypeMask;
        if (type == 0) type = ModeBits.Regular; // mknod(2) treats type 0 as a regular file
        bool device = type is ModeBits.Char or ModeBits.Block;
        if (type is not (ModeBits.Regular or ModeBits.Char or ModeBits.Block or ModeBits.Fifo or ModeBits.Socket))
        {
            r.Fail(Errno.EINVAL);
            return;
        }
        if (CreateNode(r, r.Name, type | (r.Mode & ModeBits.PermMask), device ? r.Rdev : 0, null) is { } n)
            ReplyEntry(r, n);
    }

    protected override void MkDir(MkDirRequest r)
    {
        if (CreateNode(r, r.Name, ModeBits.Directory | (r.Mode & ModeBits.PermMask), 0, null) is { } n)
            ReplyEntry(r, n);
    }

    protected override void Symlink(SymlinkRequest r)
    {
        if (r.Target.Length == 0) { r.Fail(Errno.ENOENT); return; }
        if (r.Target.Length > MaxSymlinkBytes) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (CreateNode(r, r.Name, ModeBits.Symlink | 0x1FF, 0, r.Target) is { } n)
            ReplyEntry(r, n);
    }

    protected override void Create(CreateRequest r)
    {
        if (CreateNode(r, r.Name, ModeBits.Regular | (r.Mode & ModeBits.PermMask), 0, null) is not { } n) return;
        ulong fh = OpenHandle(n);
        if (r.Reply(n.ToEntry(), fh, OpenFlagsFor(n))) n.LookupCount++;
        else CloseHandle(fh); // the engine answered first (timeout/abort): the kernel never saw this node
    }

    protected override void TmpFile(CreateRequest r)
    {
        if (Dir(r, r.NodeId) is not { } dir) return;
        if (dir.Links == 0) { r.Fail(Errno.ENOENT); return; }
        if (_nodes.Count >= _options.MaxInodes) { r.Fail(Errno.ENOSPC); return; }
        long metadata = MetadataCost(default, null);
        if (_usedBytes + _metadataBytes + metadata > _options.CapacityBytes) { r.Fail(Errno.ENOSPC); return; }
        uint gid = (dir.Mode & ModeBits.SetGid) != 0 ? dir.Gid : r.Gid;
        var n = new Inode(_nextIno++, ModeBits.Regular | (r.Mode & ModeBits.PermMask), r.Uid, gid, FsTime.Now, 0, null,
            _options.SpillToMemfdAboveBytes ?? long.MaxValue) { Links = 0, Unnamed = true, MetadataBytes = metadata };
        _metadataBytes += metadata;
        _nodes.Add(n.Ino, n);
        ulong fh = OpenHandle(n);
        if (r.Reply(n.ToEntry(), fh, OpenFlagsFor(n))) n.LookupCount++;
        else CloseHandle(fh); // never seen by the kernel: freed with the handle
    }

    protected override void Link(LinkRequest r)
    {
        if (Node(r, r.OldNodeId) is not { } target) return;
        if (Dir(r, r.NodeId) is not { } dir) return;
        if (target.IsDirectory) { r.Fail(Errno.EPERM); return; }
        if (NameTooLong(r.NewName)) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (dir.Links == 0 || (target.Links == 0 && !target.Unnamed)) { r.Fail(Errno.ENOENT); return; }
        if (dir.Entries!.TryGet(r.NewName, out _)) { r.Fail(Errno.EEXIST); return; }
        if (target.Links == uint.MaxValue) { r.Fail(Errno.EMLINK); return; }

        var now = FsTime.Now;
        target.Links++;
        target.Unnamed = false;
        target.Ctime = now;
        dir.Entries.Add(r.NewName, target);
        dir.Modified(now);
        ReplyEntry(r, target);
    }

    protected override void Unlink(UnlinkRequest r)
    {
        if (Dir(r, r.NodeId) is not { } dir) return;
        if (NameTooLong(r.Name)) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (!dir.Entries!.TryGet(r.Name, out var e)) { r.Fail(Errno.ENOENT); return; }
        var n = e.Node;
        if (n.IsDirectory) { r.Fail(Errno.EISDIR); return; }

        var now = FsTime.Now;
        dir.Entries.Remove(r.Name, out _);
        n.Links--;
        n.Ctime = now;
        dir.Modified(now);
        MaybeFree(n);
        r.Reply();
    }

    protected override void RmDir(RmDirRequest r)
    {
        if (Dir(r, r.NodeId) is not { } dir) return;
        if (NameTooLong(r.Name)) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (!dir.Entries!.TryGet(r.Name, out var e)) { r.Fail(Errno.ENOENT); return; }
        var n = e.Node;
        if (!n.IsDirectory) { r.Fail(Errno.ENOTDIR); return; }
        if (n.Entries!.Count != 0) { r.Fail(Errno.ENOTEMPTY); return; }

        var now = FsTime.Now;
        dir.Entries.Remove(r.Name, out _); // also drops dir's subdirectory count, i.e. its nlink
        n.Links = 0;
        n.Ctime = now;
        dir.Modified(now);
        MaybeFree(n);
        r.Reply();
    }

    protected override void Rename(RenameRequest r)
    {
        const RenameFlags known = RenameFlags.NoReplace | RenameFlags.Exchange | RenameFlags.Whiteout;
        bool whiteout = (r.Flags & RenameFlags.Whiteout) != 0;
        if ((r.Flags & ~known) != 0 || (r.NoReplace && r.Exchange) || (whiteout && r.Exchange)) { r.Fail(Errno.EINVAL); return; }
        if (Dir(r, r.NodeId) is not { } srcDir) return;
        if (Dir(r, r.NewDir) is not { } dstDir) return;
        if (NameTooLong(r.Name) || NameTooLong(r.NewName)) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (!srcDir.Entries!.TryGet(r.Name, out var se)) { r.Fail(Errno.ENOENT); return; }
        if (dstDir.Links == 0) { r.Fail(Errno.ENOENT); return; }
        dstDir.Entries!.TryGet(r.NewName, out var de);
        var node = se.Node;
        var now = FsTime.Now;

        if (r.Exchange)
        {
            if (de is null) { r.Fail(Errno.ENOENT); return; }
            var other = de.Node;
            if ((node.IsDirectory && IsSelfOrAncestor(node, dstDir)) || (other.IsDirectory && IsSelfOrAncestor(other, srcDir)))
            {
                r.Fail(Errno.EINVAL);
                return;
            }
            DirectoryEntries.Exchange(srcDir.Entries, se, dstDir.Entries, de);
            if (node.IsDirectory) node.Parent = dstDir;
            if (other.IsDirectory) other.Parent = srcDir;
            node.Ctime = now;
            other.Ctime = now;
            srcDir.Modified(now);
            dstDir.Modified(now);
            r.Reply();
            return;
        }

        if (de is not null)
        {
            if (r.NoReplace) { r.Fail(Errno.EEXIST); return; }
            if (de.Node == node) { r.Reply(); return; } // two names of one file: POSIX says do nothing
        }
        if (node.IsDirectory && IsSelfOrAncestor(node, dstDir)) { r.Fail(Errno.EINVAL); return; }
        // RENAME_WHITEOUT (overlayfs on an upper layer): the old name is left as a whiteout, a character device 0/0.
        long whiteoutCost = whiteout ? MetadataCost(r.Name, null) : 0;
        if (whiteout && (_nodes.Count >= _options.MaxInodes || _usedBytes + _metadataBytes + whiteoutCost > _options.CapacityBytes))
        {
            r.Fail(Errno.ENOSPC);
            return;
        }
        if (de is not null)
        {
            var victim = de.Node;
            if (node.IsDirectory && !victim.IsDirectory) { r.Fail(Errno.ENOTDIR); return; }
            if (!node.IsDirectory && victim.IsDirectory) { r.Fail(Errno.EISDIR); return; }
            if (victim.IsDirectory && victim.Entries!.Count != 0) { r.Fail(Errno.ENOTEMPTY); return; }

            dstDir.Entries.Remove(r.NewName, out _);
            if (victim.IsDirectory) victim.Links = 0;
            else victim.Links--;
            victim.Ctime = now;
            MaybeFree(victim);
        }
        // A new entry, hence a new cookie: a listing in progress sees the name at most once more, at the end.
        srcDir.Entries.Remove(r.Name, out _);
        dstDir.Entries.Add(r.NewName, node);
        if (whiteout)
        {
            var mark = new Inode(_nextIno++, ModeBits.Char, r.Uid, r.Gid, now) { MetadataBytes = whiteoutCost };
            _metadataBytes += whiteoutCost;
            _nodes.Add(mark.Ino, mark);
            srcDir.Entries.Add(r.Name, mark);
        }
        if (node.IsDirectory) node.Parent = dstDir;
        node.Ctime = now;
        srcDir.Modified(now);
        dstDir.Modified(now);
        r.Reply();
    }

    // ---------------------------------------------------------------- open files

    protected override void Open(OpenRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (n.IsDirectory) { r.Fail(Errno.EISDIR); return; }
        // O_TRUNC reaches us because ATOMIC_O_TRUNC is negotiated; the kernel checked write permission.
        if ((r.Flags & OpenFlags.Truncate) != 0 && n.Data is { } data)
        {
            long before = data.AllocatedBytes;
            var error = data.Truncate(0);
            _usedBytes += data.AllocatedBytes - before;
            if (StoreFailed(r, error)) return;
            n.Modified(FsTime.Now);
            // The VFS removes set-id bits when a caller without CAP_FSETID truncates, but with ATOMIC_O_TRUNC the
            // kernel drops that mode change (fuse_setattr ends early for an open's truncate): ours to do. The request
            // says nothing of capabilities, so root stands for CAP_FSETID.
            if (r.Uid != 0) KillSuidGid(n);
        }
        ReplyOpen(r, n);
    }

    protected override void OpenDir(OpenRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (!n.IsDirectory) { r.Fail(Errno.ENOTDIR); return; }
        ReplyOpen(r, n);
    }

    protected override void Release(ReleaseRequest r)
    {
        CloseHandle(r.Fh);
        r.Reply();
    }

    protected override void ReleaseDir(ReleaseRequest r)
    {
        CloseHandle(r.Fh);
        r.Reply();
    }

    protected override void Read(ReadRequest r)
    {
        if (File(r, r.NodeId) is not { } n) return;
        var data = n.Data!;
        if (r.Size == 0 || r.Offset >= (ulong)data.Size)
        {
            r.Reply(ReadOnlyMemory<byte>.Empty);
            return;
        }
        int want = (int)Math.Min(r.Size, (ulong)data.Size - r.Offset);
        if (data.MemfdDescriptor is int fd and >= 0)
        {
            // The engine reads the memfd into its own reply buffer where it has one (io_uring): a copy fewer.
            r.ReplyFromFile(fd, (long)r.Offset, want);
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(want);
        int got = data.Read((long)r.Offset, buffer.AsSpan(0, want));
        if (got < 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            StoreFailed(r, (Errno)(-got));
            return;
        }
        r.ReplyPooled(buffer, got);
    }

    protected override void Write(WriteRequest r)
    {
        if (File(r, r.NodeId) is not { } n) return;
        var data = n.Data!;
        int length = (int)r.Size;
        if (r.Offset > (ulong)(MaxFileSize - length)) { r.Fail(Errno.EFBIG); return; }
        long offset = (long)r.Offset;
        if (!data.Fits(offset, length, _options.CapacityBytes - _usedBytes - _metadataBytes)) { r.Fail(Errno.ENOSPC); return; }

        long before = data.AllocatedBytes;
        Errno error;
        // Leased for the copy into the file alone: over io_uring on the queue's thread, straight from the ring entry.
        using (var src = r.LeaseData()) error = data.Write(offset, src.Span);
        _usedBytes += data.AllocatedBytes - before;
        NoteSpillError(data);
        if (StoreFailed(r, error)) return;
        n.Modified(FsTime.Now);
        if ((r.WriteFlags & WriteFlags.KillSuidGid) != 0) KillSuidGid(n);
        r.Reply((uint)length);
    }

    protected override void Fallocate(FallocateRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (n.IsDirectory) { r.Fail(Errno.EISDIR); return; }
        if (n.Data is not { } data) { r.Fail(Errno.ENODEV); return; }
        if (r.Length == 0) { r.Fail(Errno.EINVAL); return; }
        if (r.Offset > (ulong)MaxFileSize || r.Length > (ulong)MaxFileSize - r.Offset) { r.Fail(Errno.EFBIG); return; }
        long offset = (long)r.Offset, length = (long)r.Length;
        long before = data.AllocatedBytes;
        var now = FsTime.Now;

        switch (r.Mode)
        {
            case FallocateFlags.None:
            case FallocateFlags.KeepSize:
                if (!data.Fits(offset, length, _options.CapacityBytes - _usedBytes - _metadataBytes)) { r.Fail(Errno.ENOSPC); return; }
                long oldSize = data.Size;
                var error = data.Allocate(offset, length, keepSize: r.Mode == FallocateFlags.KeepSize);
                NoteSpillError(data);
                if (error != Errno.Ok) { _usedBytes += data.AllocatedBytes - before; StoreFailed(r, error); return; }
                if (data.Size != oldSize) n.Modified(now);
                break;
            case FallocateFlags.PunchHole | FallocateFlags.KeepSize:
                var punched = data.PunchHole(offset, length);
                if (punched != Errno.Ok) { _usedBytes += data.AllocatedBytes - before; StoreFailed(r, punched); return; }
                n.Modified(now);
                break;
            case FallocateFlags.ZeroRange:
            case FallocateFlags.ZeroRange | FallocateFlags.KeepSize:
            {
                // As ext4: the range reads zeros and stays allocated; the size grows unless KEEP_SIZE. Here: punch the
                // part inside the file, then allocate the whole range (the punched chunks come back as zeros).
                if (!data.Fits(offset, length, _options.CapacityBytes - _usedBytes - _metadataBytes)) { r.Fail(Errno.ENOSPC); return; }
                long inside = Math.Min(offset + length, data.Size) - offset;
                var zeroed = inside > 0 ? data.PunchHole(offset, inside) : Errno.Ok;
                if (zeroed == Errno.Ok) zeroed = data.Allocate(offset, length, keepSize: (r.Mode & FallocateFlags.KeepSize) != 0);
                NoteSpillError(data);
                if (zeroed != Errno.Ok) { _usedBytes += data.AllocatedBytes - before; StoreFailed(r, zeroed); return; }
                n.Modified(now);
                break;
            }
            default: // PUNCH_HOLE without KEEP_SIZE, COLLAPSE/INSERT_RANGE, UNSHARE_RANGE
                r.Fail(Errno.EOPNOTSUPP);
                return;
        }
        _usedBytes += data.AllocatedBytes - before;
        r.Reply();
    }

    protected override void Lseek(LseekRequest r)
    {
        if (File(r, r.NodeId) is not { } n) return;
        var data = n.Data!;
        if (r.Whence is not (SeekDataWhence or SeekHoleWhence)) { r.Fail(Errno.EINVAL); return; }
        if (r.Offset >= (ulong)data.Size) { r.Fail(Errno.ENXIO); return; }
        long offset = (long)r.Offset;
        if (r.Whence == SeekDataWhence)
        {
            long p = data.SeekData(offset);
            if (p < 0 || p >= data.Size) { r.Fail(Errno.ENXIO); return; }
            r.Reply((ulong)p);
        }
        else
        {
            // The end of file always counts as a hole.
            r.Reply((ulong)Math.Min(data.SeekHole(offset), data.Size));
        }
    }

    protected override void CopyFileRange(CopyFileRangeRequest r)
    {
        // Handles are per open; the node ids name the files (NodeId = input, NodeIdOut = output).
        if (File(r, r.NodeId) is not { } input) return;
        if (File(r, r.NodeIdOut) is not { } output) return;
        if (r.Flags != 0) { r.Fail(Errno.EINVAL); return; }
        var src = input.Data!;
        var dst = output.Data!;
        if (r.OffsetIn >= (ulong)src.Size || r.Length == 0) { r.Reply(0); return; }

        long length = (long)Math.Min(r.Length, (ulong)src.Size - r.OffsetIn);
        if (!r.Is64) length = Math.Min(length, uint.MaxValue & ~0xFFFL); // the old reply has a 32-bit count
        if (r.OffsetOut > (ulong)(MaxFileSize - length)) { r.Fail(Errno.EFBIG); return; }
        long inOff = (long)r.OffsetIn, outOff = (long)r.OffsetOut;
        if (input == output && inOff < outOff + length && outOff < inOff + length) { r.Fail(Errno.EINVAL); return; }
        // Upper bound (source holes stay holes), so the copy never starts what it cannot finish.
        if (!dst.Fits(outOff, length, _options.CapacityBytes - _usedBytes - _metadataBytes)) { r.Fail(Errno.ENOSPC); return; }

        long before = dst.AllocatedBytes;
        var error = dst.CopyFrom(src, inOff, outOff, length);
        _usedBytes += dst.AllocatedBytes - before;
        NoteSpillError(dst);
        if (StoreFailed(r, error)) return;
        output.Modified(FsTime.Now);
        r.Reply((ulong)length);
    }

    // ---------------------------------------------------------------- directories

    protected override void ReadDir(ReadDirRequest r)
    {
        if (Node(r, r.NodeId) is not { } dir) return;
        if (!dir.IsDirectory) { r.Fail(Errno.ENOTDIR); return; }

        // Cookies: "." = 1, ".." = 2, entries from 3 up. Each record carries its own cookie, so continuing
        // "after X" resumes right behind the last record the caller consumed.
        ulong offset = r.Offset;
        if (offset < 1 && !AddDot(r, "."u8, dir, 1)) { r.Reply(); return; }
        if (offset < 2 && !AddDot(r, ".."u8, dir.Parent ?? dir, 2)) { r.Reply(); return; }

        ulong after = Math.Max(offset, 2);
        int counted = 0;
        foreach (var e in dir.Entries!.After(after))
        {
            var child = e.Node;
            if (r.IsPlus)
            {
                if (!r.TryAddPlus(e.Name, child.ToEntry(), e.Cookie)) break;
                child.LookupCount++; // each READDIRPLUS entry with a node id is a lookup
                counted++;
            }
            else if (!r.TryAdd(e.Name, child.Ino, child.Mode, e.Cookie))
            {
                break;
            }
        }
        if (!r.Reply() && counted > 0)
        {
            // The engine answered first: the kernel never saw these entries, so take the lookups back.
            foreach (var e in dir.Entries.After(after))
            {
                e.Node.LookupCount--;
                if (--counted == 0) break;
            }
        }
    }

    private static bool AddDot(ReadDirRequest r, ReadOnlySpan<byte> name, Inode n, ulong cookie)
    {
        if (!r.IsPlus) return r.TryAdd(name, n.Ino, n.Mode, cookie);
        // NodeId 0: "no entry data", and the kernel counts no lookup for "." and "..".
        var e = new Entry { Attr = new FuseAttr { Ino = n.Ino, Mode = n.Mode } };
        return r.TryAddPlus(name, e, cookie);
    }

    // ---------------------------------------------------------------- xattrs

    // MemoryFs does not enforce ACLs and does not negotiate FUSE_POSIX_ACL, so storing
    // system.posix_acl_* as plain bytes would lie: `cp -a` would "copy" an ACL that changes
    // nothing while skipping its chmod fallback, leaving the wrong mode. EOPNOTSUPP is what
    // a filesystem without ACL support answers, and makes tools fall back to the mode bits.
    private static bool IsPosixAcl(ReadOnlySpan<byte> name) => name.StartsWith("system.posix_acl_"u8);

    protected override void SetXAttr(SetXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (IsPosixAcl(r.Name)) { r.Fail(Errno.EOPNOTSUPP); return; }
        if (r.Name.Length == 0 || r.Name.Length > MaxXattrNameBytes) { r.Fail(Errno.ERANGE); return; }
        if (r.Value.Length > MaxXattrValueBytes) { r.Fail(Errno.E2BIG); return; }
        const XAttrFlags known = XAttrFlags.Create | XAttrFlags.Replace;
        if ((r.Flags & ~known) != 0) { r.Fail(Errno.EINVAL); return; }
        bool exists = n.Xattrs is { } x && x.ContainsKey(r.Name);
        if ((r.Flags & XAttrFlags.Create) != 0 && exists) { r.Fail(Errno.EEXIST); return; }
        if ((r.Flags & XAttrFlags.Replace) != 0 && !exists) { r.Fail(Errno.ENODATA); return; }

        (n.Xattrs ??= new Dictionary<byte[], byte[]>(ByteStringComparer.Instance))[r.Name] = r.Value; // decoder gives us our own copy
        n.Ctime = FsTime.Now;
        r.Reply();
    }

    protected override void GetXAttr(GetXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (IsPosixAcl(r.Name)) { r.Fail(Errno.EOPNOTSUPP); return; }
        // Hot: the kernel asks for security.capability before the first write of every open.
        if (n.Xattrs is null || !n.Xattrs.TryGetValue(r.Name, out var value)) { r.Fail(Errno.ENODATA); return; }
        r.Reply(value);
    }

    protected override void ListXAttr(ListXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        r.Reply(n.Xattrs is { } x ? x.Keys : Array.Empty<byte[]>());
    }

    protected override void RemoveXAttr(RemoveXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (n.Xattrs is null || !n.Xattrs.Remove(r.Name)) { r.Fail(Errno.ENODATA); return; }
        n.Ctime = FsTime.Now;
        r.Reply();
    }

    // ---------------------------------------------------------------- filesystem

    protected override void StatFs(StatFsRequest r)
    {
        const uint bsize = Inode.BlockSize;
        ulong blocks = (ulong)_options.CapacityBytes / bsize;
        ulong usedBlocks = ((ulong)(_usedBytes + _metadataBytes) + bsize - 1) / bsize;
        ulong free = blocks > usedBlocks ? blocks - usedBlocks : 0;
        ulong files = (ulong)_options.MaxInodes;
        ulong live = (ulong)_nodes.Count;
        r.Reply(new StatFs
        {
            Blocks = blocks,
            BlocksFree = free,
            BlocksAvailable = free,
            Files = files,
            FilesFree = files > live ? files - live : 0,
            BlockSize = bsize,
            NameLength = MaxNameBytes,
            FragmentSize = bsize,
        });
    }

    /// <summary>Unmount: the kernel sends no FORGETs and no RELEASEs for what it still holds, so drop every kernel
    /// reference here and free what only those references kept alive. The tree itself stays.</summary>
    protected override void Destroy(DestroyRequest r)
    {
        _handles.Clear();
        var orphans = new List<Inode>();
        foreach (var n in _nodes.Values)
        {
            n.LookupCount = 0;
            n.OpenCount = 0;
            if (n.CanFree) orphans.Add(n);
        }
        foreach (var n in orphans) MaybeFree(n);
        r.Reply();
    }

    /// <summary>The actor is gone (stopped, or restarting with a fresh tree): the memfds of large files are closed
    /// here, or their descriptors and the memory behind them would stay with the process until it exits.</summary>
    protected override void PostStop()
    {
        foreach (var n in _nodes.Values) n.Data?.Dispose();
        base.PostStop();
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>The node, or null after answering ENOENT (unknown ids are the kernel's or our bug: log them).</summary>
    private Inode? Node(FsRequest r, ulong id)
    {
        if (_nodes.TryGetValue(id, out var n)) return n;
        Log.Warning("{Opcode}: unknown node {Node}", r.Opcode, id);
        r.Fail(Errno.ENOENT);
        return null;
    }

    /// <summary>The node if it is a directory, else null after answering ENOENT/ENOTDIR.</summary>
    private Inode? Dir(FsRequest r, ulong id)
    {
        if (Node(r, id) is not { } n) return null;
        if (n.IsDirectory) return n;
        r.Fail(Errno.ENOTDIR);
        return null;
    }

    /// <summary>The node if it is a regular file, else null after answering ENOENT/EISDIR/EINVAL.</summary>
    private Inode? File(FsRequest r, ulong id)
    {
        if (Node(r, id) is not { } n) return null;
        if (n.IsRegular) return n;
        r.Fail(n.IsDirectory ? Errno.EISDIR : Errno.EINVAL);
        return null;
    }

    /// <summary>Common part of MKNOD, MKDIR, SYMLINK and CREATE: checks the parent and name, makes the node and
    /// links it. Null after answering the errno.</summary>
    private Inode? CreateNode(FsRequest r, FileName name, uint mode, uint rdev, byte[]? target)
    {
        if (Dir(r, r.NodeId) is not { } dir) return null;
        if (NameTooLong(name)) { r.Fail(Errno.ENAMETOOLONG); return null; }
        if (dir.Links == 0) { r.Fail(Errno.ENOENT); return null; } // the directory was removed
        if (dir.Entries!.TryGet(name, out _)) { r.Fail(Errno.EEXIST); return null; }
        if (_nodes.Count >= _options.MaxInodes) { r.Fail(Errno.ENOSPC); return null; }
        long metadata = MetadataCost(name, target);
        if (_usedBytes + _metadataBytes + metadata > _options.CapacityBytes) { r.Fail(Errno.ENOSPC); return null; }

        uint gid = r.Gid;
        if ((dir.Mode & ModeBits.SetGid) != 0)
        {
            // BSD group semantics under a setgid directory; subdirectories carry the bit on.
            gid = dir.Gid;
            if ((mode & ModeBits.TypeMask) == ModeBits.Directory) mode |= ModeBits.SetGid;
        }
        var now = FsTime.Now;
        var n = new Inode(_nextIno++, mode, r.Uid, gid, now, rdev, target, _options.SpillToMemfdAboveBytes ?? long.MaxValue);
        if (n.IsDirectory) n.Parent = dir;
        n.MetadataBytes = metadata;
        _metadataBytes += metadata;
        _nodes.Add(n.Ino, n);
        dir.Entries.Add(name, n);
        dir.Modified(now);
        return n;
    }

    private static void ReplyEntry(EntryRequest r, Inode n)
    {
        // Count the lookup only if the reply is really ours to send.
        if (r.Reply(n.ToEntry())) n.LookupCount++;
    }

    private void ReplyOpen(OpenRequest r, Inode n)
    {
        ulong fh = OpenHandle(n);
        if (!r.Reply(fh, OpenFlagsFor(n))) CloseHandle(fh);
    }

    /// <summary>See <see cref="MemoryFsOptions.KeepKernelCache"/>.</summary>
    private FopenFlags OpenFlagsFor(Inode n) =>
        !_options.KeepKernelCache ? FopenFlags.None
        : n.IsDirectory ? FopenFlags.CacheDir | FopenFlags.KeepCache
        : FopenFlags.KeepCache;

    private ulong OpenHandle(Inode n)
    {
        ulong fh = _nextFh++;
        _handles.Add(fh, n);
        n.OpenCount++;
        return fh;
    }

    private void CloseHandle(ulong fh)
    {
        if (!_handles.Remove(fh, out var n))
        {
            Log.Warning("release of unknown handle {Handle}", fh);
            return;
        }
        n.OpenCount--;
        MaybeFree(n);
    }

    /// <summary>Frees an inode once no name, no kernel lookup and no open handle refers to it. Never the root.</summary>
    private void MaybeFree(Inode n)
    {
        if (n == _root || !n.CanFree) return;
        if (!_nodes.Remove(n.Ino)) return;
        _metadataBytes -= n.MetadataBytes;
        if (n.Data is { } data)
        {
            _usedBytes -= data.AllocatedBytes;
            data.Dispose();
        }
        n.Xattrs = null;
        n.Parent = null;
    }

    /// <summary>True when <paramref name="dir"/> is <paramref name="node"/> or lies below it (moving node there would cut a loop).</summary>
    private bool IsSelfOrAncestor(Inode node, Inode dir)
    {
        for (var d = dir; d is not null; d = d.Parent)
        {
            if (d == node) return true;
            if (d == _root) return false;
        }
        return false;
    }

    private static bool NameTooLong(FileName name) => name.Length > MaxNameBytes;

    /// <summary>A write or truncate by an unprivileged writer drops set-user-id, and set-group-id when group-executable.</summary>
    private static void KillSuidGid(Inode n) => n.Mode = ModeBits.WithoutSetIdOnWrite(n.Mode);

    /// <summary>Answers a failed store operation (a memfd's pwrite, fallocate, ...) with its errno and a log line.</summary>
    private bool StoreFailed(FsRequest r, Errno error)
    {
        if (error == Errno.Ok) return false;
        Log.Warning("{Opcode} on node {Node}: file store failed with {Errno}", r.Opcode, r.NodeId, error);
        r.Fail(error);
        return true;
    }

    /// <summary>A file that could not move to a memfd keeps working on the heap; say so once per filesystem.</summary>
    private void NoteSpillError(FileContent data)
    {
        if (data.SpillError == Errno.Ok || _spillErrorLogged) return;
        _spillErrorLogged = true;
        Log.Warning("large files stay on the GC heap: no memfd ({Reason}); raise the descriptor limit (ulimit -n)", data.SpillError);
    }

    // For tests (through TestActorRef): accounting that STATFS only shows rounded.
    internal long UsedBytes => _usedBytes;
    internal long MetadataBytes => _metadataBytes;

    /// <summary>What one inode costs in memory beside its data: the Inode object, its table and directory entries
    /// (measured: ~300 bytes for a file; a directory's entry table grows with its entries), plus its name and
    /// symlink target. A hard link's extra name is not counted.</summary>
    private static long MetadataCost(FileName name, byte[]? target) => 320 + name.Length + (target?.Length ?? 0);
    internal int NodeCount => _nodes.Count;
    internal ulong LookupCountOf(ulong ino) => _nodes.TryGetValue(ino, out var n) ? n.LookupCount : 0;
    internal int OpenHandleCount => _handles.Count;
    internal int MemfdDescriptorOf(ulong ino) => _nodes.TryGetValue(ino, out var n) && n.Data is { } d ? d.MemfdDescriptor : -1;
}
