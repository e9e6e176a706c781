using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;

namespace FuseActors.Filesystems.Cluster.Namespace;

/// <summary>
/// The namespace of one volume: every inode (attributes, link count, symlink target, xattrs) and every directory
/// entry. Pure and deterministic: <see cref="Check"/> says whether a mutation would succeed (changing nothing), and
/// <see cref="Apply"/> applies an accepted one using only the mutation and the state, so replaying the journal
/// rebuilds the same state. The POSIX rules are MemoryFs's (which passes pjdfstest); permission checks are the
/// kernel's (default_permissions).
///
/// Why one state for all metadata: RENAME across directories, LINK and UNLINK are then single events in one journal,
/// atomic by construction. A node killed half-way through leaves either the whole change or none of it, and no
/// two-phase protocol is needed. The price is that metadata throughput is one actor's. Measured (bench/RESULTS.md,
/// "Creates from many processes"): that actor is not what limits it here. Creates through one entity went from
/// ~400-740/s with one caller to ~2.6k/s with 16 (on one node, or 8 on each of two), because concurrent callers
/// share a journal commit; the commit (an fsync) is the cost, and splitting the namespace would not make a commit
/// cheaper while it would make every cross-directory rename a two-entity protocol.
/// </summary>
public sealed class NamespaceState
{
    public const ulong RootIno = 1;
    public const int MaxNameBytes = 255;
    public const int MaxSymlinkBytes = 4095;
    public const ulong MaxFileSize = long.MaxValue;

    private readonly Dictionary<ulong, Inode> _inodes = new();
    private ulong _nextIno = RootIno + 1;
    // Answers to numbered mutations (IDeduplicated), oldest first: a request sent again gets its first answer.
    public const int RememberedRequests = 4096;
    private readonly Dictionary<(string Origin, ulong RequestId), NsResult> _applied = new();
    private readonly Queue<(string Origin, ulong RequestId)> _appliedOrder = new();
    private readonly long _chunkSize;

    /// <param name="chunkSize">The volume's chunk size: which chunk holds which byte (a property of the volume's data,
    /// never changed once data is written).</param>
    public NamespaceState(long chunkSize = 1 << 20)
    {
        _chunkSize = chunkSize;
        var root = new Inode(RootIno, ModeBits.Directory | 0x1ED, 0, 0, 0, 0) { Nlink = 2, Parent = RootIno, Entries = new(), Order = new() };
        _inodes.Add(RootIno, root);
    }

    public int InodeCount => _inodes.Count;
    public ulong NextIno => _nextIno;

    /// <summary>Inodes with no name left (unlinked while open, or O_TMPFILE): freed by an <see cref="NsFree"/> once no node holds them open.</summary>
    public IEnumerable<ulong> Orphans
    {
        get
        {
            foreach (var n in _inodes.Values)
                if (n.Nlink == 0 && n.Ino != RootIno) yield return n.Ino;
        }
    }

    // ---------------------------------------------------------------- queries

    public NsResult Lookup(ulong parent, byte[] name)
    {
        if (Dir(parent, out var dir) is { } e) return e;
        if (name.Length > MaxNameBytes) return NsResult.Error(Errno.ENAMETOOLONG);
        if (!dir.Entries!.TryGetValue(FileName.FromBytes(name), out var ino)) return NsResult.Error(Errno.ENOENT);
        return new NsResult(0, _inodes[ino].ToAttr());
    }

    /// <summary>The inode <paramref name="name"/> names in directory <paramref name="parent"/> now; 0 if none.</summary>
    public ulong EntryIno(ulong parent, byte[] name) =>
        _inodes.TryGetValue(parent, out var dir) && dir.IsDirectory && dir.Entries!.TryGetValue(FileName.FromBytes(name), out var ino) ? ino : 0;

    public NsResult GetAttr(ulong ino) =>
        _inodes.TryGetValue(ino, out var n) ? new NsResult(0, n.ToAttr()) : NsResult.Error(Errno.ENOENT);

    public bool TryGetAttr(ulong ino, out NodeAttr attr)
    {
        attr = null!;
        if (!_inodes.TryGetValue(ino, out var n)) return false;
        attr = n.ToAttr();
        return true;
    }

    public NsResult ReadDir(ulong ino)
    {
        if (Dir(ino, out var dir) is { } e) return e;
        var list = new DirEntry[dir.Entries!.Count];
        int i = 0;
        foreach (var (name, cookie) in dir.Order!)
        {
            var child = dir.Entries[name];
            list[i++] = new DirEntry(name.Bytes.ToArray(), child, _inodes[child].Mode, cookie);
        }
        return new NsResult(0, dir.ToAttr(), Entries: list, Count: dir.Parent);
    }

    public NsResult ReadLink(ulong ino)
    {
        if (!_inodes.TryGetValue(ino, out var n)) return NsResult.Error(Errno.ENOENT);
        return n.Target is null ? NsResult.Error(Errno.EINVAL) : new NsResult(0, Bytes: n.Target);
    }

    public NsResult GetXattr(ulong ino, byte[] name)
    {
        if (!_inodes.TryGetValue(ino, out var n)) return NsResult.Error(Errno.ENOENT);
        return n.Xattrs is { } x && x.TryGetValue(FileName.FromBytes(name), out var v) ? new NsResult(0, Bytes: v) : NsResult.Error(Errno.ENODATA);
    }

    public NsResult ListXattr(ulong ino)
    {
        if (!_inodes.TryGetValue(ino, out var n)) return NsResult.Error(Errno.ENOENT);
        var names = new List<byte[]>();
        // In byte order, not the dictionary's: that depends on the history of removals, which a state rebuilt from a
        // snapshot does not share, and every node must list the same.
        if (n.Xattrs is { } x)
            foreach (var k in x.Keys.Order()) names.Add(k.Bytes.ToArray());
        return new NsResult(0, Names: names.ToArray());
    }

    public NsResult StatFs() => new(0, Count: (ulong)_inodes.Count);

    /// <summary>The chunks of <paramref name="ino"/> from index <paramref name="from"/> on that hold data.</summary>
    public NsResult Chunks(ulong ino, long from)
    {
        if (!_inodes.TryGetValue(ino, out var n)) return NsResult.Error(Errno.ENOENT);
        return new NsResult(0, n.ToAttr(), Chunks: ChunksFrom(n, from));
    }

    /// <summary>Every chunk of <paramref name="ino"/> that holds data (to purge them when it is freed).</summary>
    public long[] ChunksOf(ulong ino) => _inodes.TryGetValue(ino, out var n) ? ChunksFrom(n, 0) : [];

    private static long[] ChunksFrom(Inode n, long from)
    {
        if (n.Chunks is null) return [];
        var list = new List<long>();
        foreach (var i in n.Chunks.GetViewBetween(from, long.MaxValue)) list.Add(i);
        return list.ToArray();
    }

    // ---------------------------------------------------------------- mutations

    /// <summary>Whether <paramref name="m"/> would succeed now: <see cref="Errno.Ok"/>, or the errno to answer (and
    /// then nothing is persisted).</summary>
    public Errno Check(INamespaceMutation m) => Run(m, apply: false, out _);

    /// <summary>Applies an accepted (or replayed) mutation. Returns the answer for its caller and fills
    /// <paramref name="changes"/> with what other nodes must drop from their caches.</summary>
    public NsResult Apply(INamespaceMutation m, Changes changes)
    {
        if (m is IDeduplicated { RequestId: not 0 } d && _applied.TryGetValue((d.Origin, d.RequestId), out var first))
        {
            changes.Duplicate = true;
            return first;
        }
        var e = Run(m, apply: true, out var result, changes);
        var answer = e == Errno.Ok ? result ?? NsResult.Ok : NsResult.Error(e);
        if (e == Errno.Ok && m is IDeduplicated { RequestId: not 0 } applied) Remember(applied.Origin, applied.RequestId, answer);
        return answer;
    }

    private void Remember(string origin, ulong requestId, NsResult answer)
    {
        if (!_applied.TryAdd((origin, requestId), answer)) return;
        _appliedOrder.Enqueue((origin, requestId));
        while (_appliedOrder.Count > RememberedRequests) _applied.Remove(_appliedOrder.Dequeue());
    }

    /// <summary>What a mutation changed, for the other nodes' kernels.</summary>
    public sealed class Changes
    {
        public readonly List<ulong> Inodes = new();
        public readonly List<EntryRef> Entries = new();
        public readonly List<DeleteRef> Deletes = new();
        /// <summary>Inodes that have just lost their last name (the entity frees them when nobody holds them open).</summary>
        public readonly List<ulong> Unlinked = new();
        /// <summary>The mutation was a numbered request already applied: its first answer was returned, nothing changed.</summary>
        public bool Duplicate;
        public bool IsEmpty => Inodes.Count == 0 && Entries.Count == 0 && Deletes.Count == 0;
        public void Clear() { Inodes.Clear(); Entries.Clear(); Deletes.Clear(); Unlinked.Clear(); Duplicate = false; }
        public Invalidate ToInvalidate() => new(Inodes.ToArray(), Entries.ToArray(), Deletes.ToArray());
    }

    private static readonly Changes Discard = new();

    private Errno Run(INamespaceMutation m, bool apply, out NsResult? result, Changes? changes = null)
    {
        result = null;
        changes ??= Discard;
        if (!apply) changes = Discard;
        switch (m)
        {
            case NsMakeNode c: return MakeNode(c, apply, ref result, changes);
            case NsLink c: return Link(c, apply, ref result, changes);
            case NsRemove c: return Remove(c, apply, changes);
            case NsRename c: return Rename(c, apply, changes);
            case NsSetAttr c: return SetAttr(c, apply, ref result, changes);
            case NsWritten c: return Written(c, apply, ref result, changes);
            case NsAppend c: return Append(c, apply, ref result, changes);
            case NsSetXattr c: return SetXattr(c, apply, changes);
            case NsRemoveXattr c: return RemoveXattr(c, apply, changes);
            case NsFree c: return Free(c, apply);
            default: return Errno.ENOSYS;
        }
    }

    private Errno MakeNode(NsMakeNode c, bool apply, ref NsResult? result, Changes changes)
    {
        if (Dir(c.Parent, out var dir) is { } e) return (Errno)e.Errno;
        if (dir.Nlink == 0) return Errno.ENOENT; // the directory was removed
        uint mode = c.Mode;
        uint type = mode & ModeBits.TypeMask;
        if (type == 0) { type = ModeBits.Regular; mode |= ModeBits.Regular; }
        if (type is not (ModeBits.Regular or ModeBits.Directory or ModeBits.Symlink or ModeBits.Char or ModeBits.Block or ModeBits.Fifo or ModeBits.Socket))
            return Errno.EINVAL;
        if (type == ModeBits.Symlink)
        {
            if (c.Target is null || c.Target.Length == 0) return Errno.ENOENT;
            if (c.Target.Length > MaxSymlinkBytes) return Errno.ENAMETOOLONG;
        }
        FileName name = default;
        if (!c.Unnamed)
        {
            if (c.Name.Length > MaxNameBytes) return Errno.ENAMETOOLONG;
            name = FileName.FromBytes(c.Name);
            if (dir.Entries!.ContainsKey(name)) return Errno.EEXIST;
        }
        if (!apply) return Errno.Ok;

        uint gid = c.Gid;
        if ((dir.Mode & ModeBits.SetGid) != 0)
        {
            // BSD group semantics under a setgid directory; subdirectories carry the bit on.
            gid = dir.Gid;
            if (type == ModeBits.Directory) mode |= ModeBits.SetGid;
        }
        bool device = type is ModeBits.Char or ModeBits.Block;
        var n = new Inode(_nextIno++, mode, c.Uid, gid, device ? c.Rdev : 0, c.Time)
        {
            Target = type == ModeBits.Symlink ? c.Target : null,
            Size = type == ModeBits.Symlink ? (ulong)c.Target!.Length : 0, // a symlink's st_size is its target's length
        };
        if (type == ModeBits.Directory)
        {
            n.Entries = new();
            n.Order = new();
            n.Parent = dir.Ino;
            n.Nlink = 2;
            dir.Nlink++;
        }
        else n.Nlink = c.Unnamed ? 0u : 1u;
        _inodes.Add(n.Ino, n);
        if (c.Unnamed) changes.Unlinked.Add(n.Ino);
        else
        {
            dir.Add(name, n.Ino);
            dir.Modified(c.Time);
            changes.Inodes.Add(dir.Ino);
            changes.Entries.Add(new EntryRef(dir.Ino, c.Name));
        }
        result = new NsResult(0, n.ToAttr());
        return Errno.Ok;
    }

    private Errno Link(NsLink c, bool apply, ref NsResult? result, Changes changes)
    {
        if (!_inodes.TryGetValue(c.Ino, out var target)) return Errno.ENOENT;
        if (Dir(c.NewParent, out var dir) is { } e) return (Errno)e.Errno;
        if (target.IsDirectory) return Errno.EPERM;
        if (c.NewName.Length > MaxNameBytes) return Errno.ENAMETOOLONG;
        if (dir.Nlink == 0) return Errno.ENOENT;
        var name = FileName.FromBytes(c.NewName);
        if (dir.Entries!.ContainsKey(name)) return Errno.EEXIST;
        if (target.Nlink == uint.MaxValue) return Errno.EMLINK;
        if (!apply) return Errno.Ok;

        target.Nlink++;
        target.CtimeNs = c.Time;
        dir.Add(name, target.Ino);
        dir.Modified(c.Time);
        changes.Inodes.Add(target.Ino);
        changes.Inodes.Add(dir.Ino);
        changes.Entries.Add(new EntryRef(dir.Ino, c.NewName));
        result = new NsResult(0, target.ToAttr());
        return Errno.Ok;
    }

    private Errno Remove(NsRemove c, bool apply, Changes changes)
    {
        if (Dir(c.Parent, out var dir) is { } e) return (Errno)e.Errno;
        if (c.Name.Length > MaxNameBytes) return Errno.ENAMETOOLONG;
        var name = FileName.FromBytes(c.Name);
        if (!dir.Entries!.TryGetValue(name, out var ino)) return Errno.ENOENT;
        var n = _inodes[ino];
        if (c.Directory)
        {
            if (!n.IsDirectory) return Errno.ENOTDIR;
            if (n.Entries!.Count != 0) return Errno.ENOTEMPTY;
        }
        else if (n.IsDirectory) return Errno.EISDIR;
        if (!apply) return Errno.Ok;

        Unlink(dir, name, n, c.Time, changes);
        dir.Modified(c.Time);
        changes.Inodes.Add(dir.Ino);
        return Errno.Ok;
    }

    /// <summary>Takes <paramref name="name"/> out of <paramref name="dir"/> and drops a link of <paramref name="n"/>.</summary>
    private void Unlink(Inode dir, FileName name, Inode n, long time, Changes changes)
    {
        dir.Remove(name);
        if (n.IsDirectory)
        {
            n.Nlink = 0;
            dir.Nlink--;
        }
        else n.Nlink--;
        n.CtimeNs = time;
        changes.Inodes.Add(n.Ino);
        changes.Deletes.Add(new DeleteRef(dir.Ino, n.Ino, name.Bytes.ToArray()));
        if (n.Nlink == 0) changes.Unlinked.Add(n.Ino);
    }

    private Errno Rename(NsRename c, bool apply, Changes changes)
    {
        const uint noReplace = 1, exchange = 2, whiteout = 4;
        bool isExchange = (c.Flags & exchange) != 0, isNoReplace = (c.Flags & noReplace) != 0, isWhiteout = (c.Flags & whiteout) != 0;
        if ((c.Flags & ~7u) != 0 || (isNoReplace && isExchange) || (isWhiteout && isExchange)) return Errno.EINVAL;
        if (Dir(c.Parent, out var src) is { } e1) return (Errno)e1.Errno;
        if (Dir(c.NewParent, out var dst) is { } e2) return (Errno)e2.Errno;
        if (c.Name.Length > MaxNameBytes || c.NewName.Length > MaxNameBytes) return Errno.ENAMETOOLONG;
        var name = FileName.FromBytes(c.Name);
        var newName = FileName.FromBytes(c.NewName);
        if (!src.Entries!.TryGetValue(name, out var ino)) return Errno.ENOENT;
        if (dst.Nlink == 0) return Errno.ENOENT;
        var node = _inodes[ino];
        bool hasVictim = dst.Entries!.TryGetValue(newName, out var victimIno);

        if (isExchange)
        {
            if (!hasVictim) return Errno.ENOENT;
            var other = _inodes[victimIno];
            if ((node.IsDirectory && IsSelfOrAncestor(node.Ino, dst.Ino)) || (other.IsDirectory && IsSelfOrAncestor(other.Ino, src.Ino)))
                return Errno.EINVAL;
            if (!apply) return Errno.Ok;
            src.Entries[name] = other.Ino;
            dst.Entries[newName] = node.Ino;
            if (node.IsDirectory && src != dst) { node.Parent = dst.Ino; src.Nlink--; dst.Nlink++; }
            if (other.IsDirectory && src != dst) { other.Parent = src.Ino; dst.Nlink--; src.Nlink++; }
            node.CtimeNs = c.Time;
            other.CtimeNs = c.Time;
            src.Modified(c.Time);
            dst.Modified(c.Time);
            changes.Inodes.AddRange([src.Ino, dst.Ino, node.Ino, other.Ino]);
            changes.Entries.Add(new EntryRef(src.Ino, c.Name));
            changes.Entries.Add(new EntryRef(dst.Ino, c.NewName));
            return Errno.Ok;
        }

        Inode? victim = null;
        if (hasVictim)
        {
            if (isNoReplace) return Errno.EEXIST;
            if (victimIno == node.Ino) return Errno.Ok; // two names of one file: POSIX says do nothing
            victim = _inodes[victimIno];
        }
        if (node.IsDirectory && IsSelfOrAncestor(node.Ino, dst.Ino)) return Errno.EINVAL;
        if (victim is not null)
        {
            if (node.IsDirectory && !victim.IsDirectory) return Errno.ENOTDIR;
            if (!node.IsDirectory && victim.IsDirectory) return Errno.EISDIR;
            if (victim.IsDirectory && victim.Entries!.Count != 0) return Errno.ENOTEMPTY;
        }
        if (!apply) return Errno.Ok;

        if (victim is not null) Unlink(dst, newName, victim, c.Time, changes);
        src.Remove(name);
        dst.Add(newName, node.Ino);
        if (node.IsDirectory && src != dst)
        {
            node.Parent = dst.Ino;
            src.Nlink--;
            dst.Nlink++;
        }
        if (isWhiteout)
        {
            // RENAME_WHITEOUT (overlayfs upper layers): the old name is left as a character device 0/0.
            var mark = new Inode(_nextIno++, ModeBits.Char, c.Uid, c.Gid, 0, c.Time) { Nlink = 1 };
            _inodes.Add(mark.Ino, mark);
            src.Add(name, mark.Ino);
        }
        node.CtimeNs = c.Time;
        src.Modified(c.Time);
        dst.Modified(c.Time);
        changes.Inodes.AddRange([src.Ino, dst.Ino, node.Ino]);
        changes.Deletes.Add(new DeleteRef(src.Ino, node.Ino, c.Name));
        changes.Entries.Add(new EntryRef(dst.Ino, c.NewName));
        return Errno.Ok;
    }

    private Errno SetAttr(NsSetAttr c, bool apply, ref NsResult? result, Changes changes)
    {
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        var valid = (SetAttrValid)c.Valid;
        bool setsSize = (valid & SetAttrValid.Size) != 0;
        if (setsSize)
        {
            if (n.IsDirectory) return Errno.EISDIR;
            if (!n.IsRegular) return Errno.EINVAL;
            if (c.Size > MaxFileSize) return Errno.EFBIG;
        }
        if (!apply) return Errno.Ok;

        // chmod sends the full mode; the file type is not the caller's to change.
        if ((valid & SetAttrValid.Mode) != 0) n.Mode = (n.Mode & ModeBits.TypeMask) | (c.Mode & ModeBits.PermMask);
        if ((valid & SetAttrValid.Uid) != 0) n.Uid = c.Uid;
        if ((valid & SetAttrValid.Gid) != 0) n.Gid = c.Gid;
        if (setsSize)
        {
            // truncate always moves mtime (the kernel sends no MTIME bit with SIZE and expects the server to).
            n.Size = c.Size;
            n.MtimeNs = c.Time;
            // Chunks wholly beyond the new size hold nothing any more (the node emptied them before this).
            long keep = (long)((c.Size + (ulong)_chunkSize - 1) / (ulong)_chunkSize);
            n.Chunks?.RemoveWhere(i => i >= keep);
        }
        if ((valid & SetAttrValid.KillSuidGid) != 0) n.KillSuidGid();
        if ((valid & (SetAttrValid.Atime | SetAttrValid.AtimeNow)) != 0)
            n.AtimeNs = (valid & SetAttrValid.AtimeNow) != 0 ? c.Time : c.AtimeNs;
        if ((valid & (SetAttrValid.Mtime | SetAttrValid.MtimeNow)) != 0)
            n.MtimeNs = (valid & SetAttrValid.MtimeNow) != 0 ? c.Time : c.MtimeNs;
        n.CtimeNs = (valid & SetAttrValid.Ctime) != 0 ? c.CtimeNs : c.Time;
        changes.Inodes.Add(n.Ino);
        result = new NsResult(0, n.ToAttr());
        return Errno.Ok;
    }

    private Errno Written(NsWritten c, bool apply, ref NsResult? result, Changes changes)
    {
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        if (!n.IsRegular) return Errno.EINVAL;
        if (c.End > MaxFileSize) return Errno.EFBIG;
        if (!apply) return Errno.Ok;
        if (c.End > n.Size) n.Size = c.End;
        if (c.End > c.Offset)
        {
            n.Chunks ??= new SortedSet<long>();
            for (long i = (long)(c.Offset / (ulong)_chunkSize); i <= (long)((c.End - 1) / (ulong)_chunkSize); i++) n.Chunks.Add(i);
        }
        n.MtimeNs = c.Time;
        n.CtimeNs = c.Time;
        if (c.KillSuid) n.KillSuidGid();
        changes.Inodes.Add(n.Ino);
        result = new NsResult(0, n.ToAttr());
        return Errno.Ok;
    }

    private Errno Append(NsAppend c, bool apply, ref NsResult? result, Changes changes)
    {
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        if (!n.IsRegular) return Errno.EINVAL;
        if (n.Size + c.Length > MaxFileSize) return Errno.EFBIG;
        if (!apply) return Errno.Ok;
        n.Size += c.Length;
        n.MtimeNs = c.Time;
        n.CtimeNs = c.Time;
        changes.Inodes.Add(n.Ino);
        result = new NsResult(0, n.ToAttr());
        return Errno.Ok;
    }

    private Errno SetXattr(NsSetXattr c, bool apply, Changes changes)
    {
        const uint create = 1, replace = 2;
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        var name = FileName.FromBytes(c.Name);
        bool exists = n.Xattrs?.ContainsKey(name) == true;
        if ((c.Flags & create) != 0 && exists) return Errno.EEXIST;
        if ((c.Flags & replace) != 0 && !exists) return Errno.ENODATA;
        if (!apply) return Errno.Ok;
        (n.Xattrs ??= new())[name] = c.Value;
        n.CtimeNs = c.Time;
        changes.Inodes.Add(n.Ino);
        return Errno.Ok;
    }

    private Errno RemoveXattr(NsRemoveXattr c, bool apply, Changes changes)
    {
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        var name = FileName.FromBytes(c.Name);
        if (n.Xattrs?.ContainsKey(name) != true) return Errno.ENODATA;
        if (!apply) return Errno.Ok;
        n.Xattrs.Remove(name);
        n.CtimeNs = c.Time;
        changes.Inodes.Add(n.Ino);
        return Errno.Ok;
    }

    private Errno Free(NsFree c, bool apply)
    {
        if (!_inodes.TryGetValue(c.Ino, out var n)) return Errno.ENOENT;
        if (n.Nlink != 0 || n.Ino == RootIno) return Errno.EBUSY;
        if (!apply) return Errno.Ok;
        _inodes.Remove(c.Ino);
        return Errno.Ok;
    }

    /// <summary>The inode's data size before <see cref="Free"/> (for purging its chunks): 0 unless a regular file
    /// (a symlink's size is its target's length, kept in the namespace).</summary>
    public ulong SizeOf(ulong ino) =>
        _inodes.TryGetValue(ino, out var n) && (n.Mode & ModeBits.TypeMask) == ModeBits.Regular ? n.Size : 0;

    // ---------------------------------------------------------------- snapshots

    public NamespaceSnapshot ToSnapshot()
    {
        var records = new InodeRecord[_inodes.Count];
        int i = 0;
        // Inodes by number and xattrs by name: a snapshot depends on the state only, not on the dictionaries' history
        // (freed slots are refilled), so a state rebuilt from a snapshot snapshots the same bytes as the original.
        foreach (var n in _inodes.Values.OrderBy(n => n.Ino))
        {
            DirEntry[]? entries = null;
            if (n.Entries is not null)
            {
                entries = new DirEntry[n.Entries.Count];
                int j = 0;
                foreach (var (name, cookie) in n.Order!) entries[j++] = new DirEntry(name.Bytes.ToArray(), n.Entries[name], 0, cookie);
            }
            byte[][]? xn = null, xv = null;
            if (n.Xattrs is { Count: > 0 } x)
            {
                xn = new byte[x.Count][];
                xv = new byte[x.Count][];
                int j = 0;
                foreach (var (k, v) in x.OrderBy(kv => kv.Key)) { xn[j] = k.Bytes.ToArray(); xv[j++] = v; }
            }
            records[i++] = new InodeRecord(n.ToAttr(), n.Parent, n.Target, entries, xn, xv, n.Chunks is { Count: > 0 } ch ? ch.ToArray() : null,
                n.Order?.NextCookie ?? 0);
        }
        var applied = new AppliedRequest[_appliedOrder.Count];
        int at = 0;
        foreach (var key in _appliedOrder) applied[at++] = new AppliedRequest(key.Origin, key.RequestId, _applied[key]);
        return new NamespaceSnapshot(_nextIno, records, applied);
    }

    public static NamespaceState FromSnapshot(NamespaceSnapshot s, long chunkSize = 1 << 20)
    {
        var state = new NamespaceState(chunkSize);
        state._inodes.Clear();
        state._nextIno = s.NextIno;
        foreach (var r in s.Inodes)
        {
            var a = r.Attr;
            var n = new Inode(a.Ino, a.Mode, a.Uid, a.Gid, a.Rdev, a.CtimeNs)
            {
                Nlink = a.Nlink, Size = a.Size, AtimeNs = a.AtimeNs, MtimeNs = a.MtimeNs, Parent = r.Parent, Target = r.Target,
                Chunks = r.Chunks is null ? null : new SortedSet<long>(r.Chunks),
            };
            if (r.Entries is not null)
            {
                n.Entries = new();
                n.Order = new();
                foreach (var d in r.Entries)
                {
                    var name = FileName.FromBytes(d.Name);
                    n.Entries.Add(name, d.Ino);
                    n.Order.Add(name, d.Cookie);
                }
                n.Order.NextCookie = Math.Max(n.Order.NextCookie, r.NextCookie);
            }
            if (r.XattrNames is not null)
            {
                n.Xattrs = new();
                for (int i = 0; i < r.XattrNames.Length; i++) n.Xattrs[FileName.FromBytes(r.XattrNames[i])] = r.XattrValues![i];
            }
            state._inodes.Add(n.Ino, n);
        }
        foreach (var a in s.Applied ?? []) state.Remember(a.Origin, a.RequestId, a.Result);
        return state;
    }

    // ---------------------------------------------------------------- helpers

    private NsResult? Dir(ulong ino, out Inode dir)
    {
        dir = null!;
        if (!_inodes.TryGetValue(ino, out var n)) return NsResult.Error(Errno.ENOENT);
        if (!n.IsDirectory) return NsResult.Error(Errno.ENOTDIR);
        dir = n;
        return null;
    }

    /// <summary>True when <paramref name="dir"/> is <paramref name="node"/> or lies below it (moving node there would cut a loop).</summary>
    private bool IsSelfOrAncestor(ulong node, ulong dir)
    {
        for (ulong d = dir; ; )
        {
            if (d == node) return true;
            if (d == RootIno || !_inodes.TryGetValue(d, out var n)) return false;
            d = n.Parent;
        }
    }

    private sealed class Inode(ulong ino, uint mode, uint uid, uint gid, uint rdev, long time)
    {
        public readonly ulong Ino = ino;
        public uint Mode = mode;
        public uint Uid = uid;
        public uint Gid = gid;
        public readonly uint Rdev = rdev;
        public uint Nlink;
        public ulong Size;
        public long AtimeNs = time, MtimeNs = time, CtimeNs = time;
        public ulong Parent;
        public byte[]? Target;
        public Dictionary<FileName, ulong>? Entries;
        // Listing order: insertion order, each name with its cookie, so a listing in progress sees a name it has not
        // passed at most once, and one continued from a cookie (seekdir, a new OPENDIR) starts where it left off.
        public Listing? Order;
        public Dictionary<FileName, byte[]>? Xattrs;
        // Indices of the chunks that hold data: a sparse file's holes cost nothing to truncate or free.
        public SortedSet<long>? Chunks;

        public bool IsDirectory => ModeBits.IsDirectory(Mode);
        public bool IsRegular => ModeBits.IsRegular(Mode);

        public void Add(FileName name, ulong ino)
        {
            Entries!.Add(name, ino);
            Order!.Add(name);
        }

        public void Remove(FileName name)
        {
            Entries!.Remove(name);
            Order!.Remove(name);
        }

        public void Modified(long time) { MtimeNs = time; CtimeNs = time; }

        /// <summary>A write or truncate by an unprivileged writer drops set-user-id, and set-group-id when group-executable.</summary>
        public void KillSuidGid() => Mode = ModeBits.WithoutSetIdOnWrite(Mode);

        public NodeAttr ToAttr() => new(Ino, Mode, Nlink, Uid, Gid, Rdev, Size, AtimeNs, MtimeNs, CtimeNs);
    }

    /// <summary>A directory's names in insertion order with O(1) add and remove, each with a cookie that grows with
    /// every name added and is never reused in this directory. Cookies 1 and 2 are "." and "..".</summary>
    private sealed class Listing : IEnumerable<(FileName Name, ulong Cookie)>
    {
        public const ulong FirstCookie = 3;
        private readonly LinkedList<(FileName Name, ulong Cookie)> _list = new();
        private readonly Dictionary<FileName, LinkedListNode<(FileName, ulong)>> _index = new();
        public ulong NextCookie = FirstCookie;

        public void Add(FileName name) => Add(name, NextCookie);

        public void Add(FileName name, ulong cookie)
        {
            _index[name] = _list.AddLast((name, cookie));
            NextCookie = Math.Max(NextCookie, cookie + 1);
        }

        public void Remove(FileName name)
        {
            if (_index.Remove(name, out var node)) _list.Remove(node);
        }

        public IEnumerator<(FileName Name, ulong Cookie)> GetEnumerator() => _list.GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
