using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;

namespace FuseActors.Filesystems.Cluster.Node;

/// <summary>
/// The cluster filesystem on one node: the FUSE side. It keeps what is this node's own (open handles, which files
/// this node holds open, the locks its processes hold, SETLKW waits) and nothing of the namespace or the data:
/// every request goes to the namespace entity or to chunk entities, wherever sharding placed them, and is answered
/// from their durable answer. It subscribes to the namespace and turns what other nodes change into
/// FUSE_NOTIFY_INVAL_INODE / INVAL_ENTRY / DELETE for its kernel, so caches here never serve a stale view for
/// longer than a notification takes.
/// </summary>
public sealed class ClusterFs : FilesystemActor
{
    private readonly ClusterFsSettings _settings;
    private readonly IActorRef _ns;
    private readonly IActorRef _chunks;
    private readonly string _node;
    private readonly string _volume;

    private sealed class Handle(ulong ino, DirEntry[]? listing, ulong parent, bool append = false)
    {
        public readonly ulong Ino = ino;
        public readonly DirEntry[]? Listing = listing;
        public readonly ulong Parent = parent;
        /// <summary>Opened with O_APPEND: the namespace places each write at the end (see <see cref="NsAppend"/>).</summary>
        public readonly bool Append = append;
    }

    // O_APPEND: the kernel would place the write at the size it has cached, which another node may have grown since;
    // so the namespace places it, and the open bypasses the page cache (the kernel never holds bytes at the offset it guessed).
    private static bool IsAppend(OpenFlags flags) => (flags & OpenFlags.Append) != 0;
    private static FopenFlags OpenReplyFlags(bool append) => append ? FopenFlags.DirectIo : FopenFlags.None;

    private readonly Dictionary<ulong, Handle> _handles = new();
    private ulong _nextFh = 1;
    // Files this node holds open, with how many handles: the namespace keeps an unlinked file for us while > 0.
    private readonly Dictionary<ulong, int> _open = new();
    // The newest size this node has seen per inode: reads fill holes with zeros up to it.
    private readonly Dictionary<ulong, ulong> _sizes = new();
    // The locks this node's processes hold, mirrored so they can be re-announced if the namespace entity moves.
    private readonly Dictionary<(ulong Ino, bool Flock), LockTable<ulong>> _heldLocks = new();
    // SETLKW requests waiting in the namespace, by wait id.
    private readonly Dictionary<ulong, (SetLockRequest Request, NsLock Message, DateTime SentAt)> _lockWaits = new();
    private ulong _nextWaitId = 1;
    // Numbers this node's changes that would not be the same if applied twice, so they can be sent again safely.
    // A random start: numbers must not repeat within this node's name even if this actor is ever restarted.
    private ulong _nextRequestId = BitConverter.ToUInt64(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) >> 1;
    private ulong NextRequestId() => ++_nextRequestId;
    private ICancelable? _subscribeTimer;
    private bool _subscribed;
    // Attributes and names this node can answer without asking the namespace (null: fuseactors.cluster.node-cache off).
    private readonly NodeMetadataCache? _cache;

    public ClusterFs(ClusterFsSettings settings, IActorRef namespaceRegion, IActorRef chunkRegion, string node)
    {
        _settings = settings;
        _ns = namespaceRegion;
        _chunks = chunkRegion;
        _node = node;
        _volume = settings.Volume;
        // The lease: three subscriptions in a row may go unconfirmed before the cache stops answering.
        if (settings.NodeCacheEntries > 0) _cache = new NodeMetadataCache(settings.NodeCacheEntries, settings.SubscribeInterval * 3);
    }

    public static Props Props(ClusterFsSettings settings, ClusterFsRegions regions, string node) =>
        Akka.Actor.Props.Create(() => new ClusterFs(settings, regions.Namespace, regions.Chunks, node));

    protected override FilesystemCapabilities Capabilities => FilesystemCapabilities.PosixLocks | FilesystemCapabilities.FlockLocks;

    private sealed class Resubscribe
    {
        public static readonly Resubscribe Instance = new();
    }

    protected override void PreStart()
    {
        base.PreStart();
        _subscribeTimer = Context.System.Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.Zero, _settings.SubscribeInterval, Self,
            Resubscribe.Instance, Self);
    }

    protected override void PostStop()
    {
        _subscribeTimer?.Cancel();
        base.PostStop();
    }

    protected override void OnOtherMessage(object message)
    {
        switch (message)
        {
            case Resubscribe:
                SendSubscribe();
                ResendLockWaits();
                break;
            case Subscribed s:
                if (!_subscribed) Log.Info("cluster filesystem on {0}: subscribed to volume {1}", _node, _volume);
                _subscribed = true;
                _cache?.Subscribed(s);
                break;
            case Invalidate inv:
                ApplyInvalidate(inv);
                break;
            case LockResult l:
                LockWaitAnswered(l);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void SendSubscribe()
    {
        var locks = new List<HeldLock>();
        foreach (var ((ino, flock), table) in _heldLocks)
            foreach (var (owner, l) in table.Locks) locks.Add(new HeldLock(ino, owner, l.Start, l.End, (int)l.Type, l.Pid, flock));
        _ns.Tell(new NsSubscribe(_volume, _node, _open.Keys.ToArray(), locks.ToArray()));
    }

    private void ApplyInvalidate(Invalidate inv)
    {
        _cache?.Invalidated(inv);
        if (inv.CacheOnly) return;   // this node's own change (its kernel learnt from the answer), or a freed inode
        foreach (var ino in inv.Inodes)
        {
            _sizes.Remove(ino);
            NotifyInvalidateInode(ino, 0, 0);
        }
        foreach (var e in inv.Entries) NotifyInvalidateEntry(e.Parent, FileName.FromBytes(e.Name));
        foreach (var d in inv.Deletes) NotifyDelete(d.Parent, d.Child, FileName.FromBytes(d.Name));
    }

    // ---------------------------------------------------------------- asking the entities

    /// <summary>Asks an entity. A repeatable request (a query, a change that gives the same result when applied
    /// twice, or a numbered change the namespace answers only once: <see cref="IDeduplicated"/>) is sent again every
    /// <c>retry-after</c>: the entity may have been on a node that died and be on its way to a survivor. Others are
    /// sent once. Either way, no answer within <c>request-timeout</c> is EIO.</summary>
    private async Task<T> Ask<T>(IActorRef region, object message, bool repeatable, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + _settings.RequestTimeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            var timeout = repeatable && left > _settings.RetryAfter ? _settings.RetryAfter : left;
            try
            {
                return await region.Ask<T>(message, timeout, ct);
            }
            catch (AskTimeoutException)
            {
                if (DateTime.UtcNow >= deadline - TimeSpan.FromMilliseconds(10))
                {
                    Log.Warning("no answer to {0} within {1}: EIO", message.GetType().Name, _settings.RequestTimeout);
                    throw new FuseErrnoException(Errno.EIO);
                }
                if (!repeatable) throw new FuseErrnoException(Errno.EIO);
                Log.Info("no answer to {0} yet: asking again", message.GetType().Name);
            }
        }
    }

    /// <summary>Asks the namespace. A change's answer updates this node's metadata cache (no invalidation is sent
    /// here for it); a change that may have been made without an answer empties the cache.</summary>
    private async Task<NsResult> Ns(object message, bool repeatable, CancellationToken ct)
    {
        if (message is not INamespaceMutation) return await Ask<NsResult>(_ns, message, repeatable, ct);
        NsResult res;
        try
        {
            res = await Ask<NsResult>(_ns, message, repeatable, ct);
        }
        catch
        {
            _cache?.Clear();
            throw;
        }
        _cache?.Changed(res);
        return res;
    }

    private static FuseAttr ToFuse(NodeAttr a)
    {
        var f = new FuseAttr
        {
            Ino = a.Ino, Mode = a.Mode, Nlink = a.Nlink, Uid = a.Uid, Gid = a.Gid, Rdev = a.Rdev, Size = a.Size,
            Blocks = (a.Size + 511) / 512, BlkSize = 4096,
        };
        f.SetAtime(Time(a.AtimeNs));
        f.SetMtime(Time(a.MtimeNs));
        f.SetCtime(Time(a.CtimeNs));
        return f;
    }

    private static FsTime Time(long ns) => new(Math.DivRem(ns, 1_000_000_000, out long rest) - (rest < 0 ? 1 : 0), (uint)(rest < 0 ? rest + 1_000_000_000 : rest));
    private static long Nanos(FsTime t) => t.Seconds * 1_000_000_000 + t.Nanoseconds;

    private Entry ToEntry(NodeAttr a)
    {
        if (ModeBits.IsRegular(a.Mode)) _sizes[a.Ino] = a.Size;
        return new Entry { NodeId = a.Ino, Attr = ToFuse(a) };
    }

    private FuseAttr Seen(NodeAttr a)
    {
        if (ModeBits.IsRegular(a.Mode)) _sizes[a.Ino] = a.Size;
        return ToFuse(a);
    }

    /// <summary>Answers an entry request from a namespace result.</summary>
    private void ReplyEntry(EntryRequest r, NsResult res)
    {
        if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
        r.Reply(ToEntry(res.Attr!));
    }

    private static void ReplyEmpty(EmptyReplyRequest r, NsResult res)
    {
        if (!res.IsOk) r.Fail((Errno)res.Errno);
        else r.Reply();
    }

    private static byte[] Bytes(FileName name) => name.Bytes.ToArray();

    // ---------------------------------------------------------------- names and attributes

    protected override void Lookup(LookupRequest r)
    {
        if (_cache is not null)
            switch (_cache.TryLookup(r.NodeId, r.Name.Bytes, out var cached))
            {
                case NodeMetadataCache.Lookup.Found: r.Reply(ToEntry(cached!)); return;
                case NodeMetadataCache.Lookup.Absent: r.Fail(Errno.ENOENT); return;
            }
        var name = Bytes(r.Name);
        HandleAsync(r, async ct =>
        {
            var res = await Ns(new NsLookup(_volume, r.NodeId, name), true, ct);
            _cache?.LookedUp(r.NodeId, name, res);
            ReplyEntry(r, res);
        });
    }

    /// <summary>The kernel let go of nodes: forget the sizes seen for those not open here (the namespace owns them).</summary>
    protected override void Forget(ForgetRequest r)
    {
        foreach (ref readonly var f in r.Forgets)
            if (!_open.ContainsKey(f.NodeId)) _sizes.Remove(f.NodeId);
    }

    protected override void GetAttr(GetAttrRequest r)
    {
        if (_cache is not null && _cache.TryGetAttr(r.NodeId, out var cached)) { r.Reply(Seen(cached)); return; }
        HandleAsync(r, async ct =>
        {
            var res = await Ns(new NsGetAttr(_volume, r.NodeId), true, ct);
            _cache?.Answered(res);
            if (!res.IsOk) r.Fail((Errno)res.Errno);
            else r.Reply(Seen(res.Attr!));
        });
    }

    protected override void SetAttr(SetAttrRequest r) => HandleAsync(r, async ct =>
    {
        if (r.SetsSize)
        {
            // Cut the chunks first: once the namespace says the file is shorter, no byte beyond may come back.
            var before = await Ns(new NsGetAttr(_volume, r.NodeId), true, ct);
            if (!before.IsOk) { r.Fail((Errno)before.Errno); return; }
            if (!ModeBits.IsRegular(before.Attr!.Mode)) { r.Fail(ModeBits.IsDirectory(before.Attr.Mode) ? Errno.EISDIR : Errno.EINVAL); return; }
            if (r.Size < before.Attr.Size) await TruncateChunks(r.NodeId, r.Size, ct);
        }
        var res = await Ns(new NsSetAttr(_volume, 0, r.NodeId, (uint)r.Valid, r.Mode, r.AttrUid, r.AttrGid, r.Size,
            Nanos(r.Atime), Nanos(r.Mtime), Nanos(r.Ctime), _node), true, ct);
        if (!res.IsOk) r.Fail((Errno)res.Errno);
        else r.Reply(Seen(res.Attr!));
    });

    /// <summary>Empties what lies at or beyond <paramref name="newSize"/> in the chunks that hold data (the namespace
    /// knows which: a sparse file's holes are never visited).</summary>
    private async Task TruncateChunks(ulong ino, ulong newSize, CancellationToken ct)
    {
        long cs = _settings.ChunkSize;
        long first = (long)(newSize / (ulong)cs);
        var held = await Ns(new NsChunks(_volume, ino, first), true, ct);
        if (!held.IsOk) throw new FuseErrnoException((Errno)held.Errno);
        var tasks = new List<Task<ChunkResult>>();
        foreach (var i in held.Chunks ?? [])
        {
            int keep = i == first ? (int)((long)newSize - i * cs) : 0;
            tasks.Add(Ask<ChunkResult>(_chunks, new ChunkTruncate(_volume, ino, i, keep), true, ct));
        }
        foreach (var t in tasks) Check(await t);
    }

    private static void Check(ChunkResult r)
    {
        if (r.Errno != 0) throw new FuseErrnoException((Errno)r.Errno);
    }

    protected override void ReadLink(ReadLinkRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(new NsReadLink(_volume, r.NodeId), true, ct);
        if (!res.IsOk) r.Fail((Errno)res.Errno);
        else r.Reply(res.Bytes!);
    });

    protected override void StatFs(StatFsRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(new NsStatFs(_volume), true, ct);
        if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
        const ulong blocks = 1UL << 32; // 16 TiB of 4 KiB blocks: the store's real capacity is the database's
        const ulong files = 1UL << 32;  // no inode limit but the store's: free inodes go down as inodes are used
        r.Reply(new StatFs
        {
            Blocks = blocks, BlocksFree = blocks / 2, BlocksAvailable = blocks / 2,
            Files = Math.Max(files, res.Count), FilesFree = files - Math.Min(files, res.Count),
            BlockSize = 4096, FragmentSize = 4096, NameLength = Namespace.NamespaceState.MaxNameBytes,
        });
    });

    // ---------------------------------------------------------------- creating and removing names

    private NsMakeNode Make(FsRequest r, FileName name, uint mode, uint rdev = 0, byte[]? target = null, bool unnamed = false, bool open = false) =>
        new(_volume, 0, r.NodeId, Bytes(name), mode, r.Uid, r.Gid, rdev, target, unnamed, _node, open, NextRequestId());

    protected override void MkNod(MkNodRequest r) =>
        HandleAsync(r, async ct => ReplyEntry(r, await Ns(Make(r, r.Name, r.Mode, r.Rdev), true, ct)));

    protected override void MkDir(MkDirRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(Make(r, r.Name, ModeBits.Directory | (r.Mode & ModeBits.PermMask)), true, ct);
        _cache?.MadeDirectory(res);
        ReplyEntry(r, res);
    });

    protected override void Symlink(SymlinkRequest r) =>
        HandleAsync(r, async ct => ReplyEntry(r, await Ns(Make(r, r.Name, ModeBits.Symlink | 0x1FF, target: r.Target), true, ct)));

    protected override void Create(CreateRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(Make(r, r.Name, ModeBits.Regular | (r.Mode & ModeBits.PermMask), open: true), true, ct);
        ReplyCreated(r, res);
    });

    protected override void TmpFile(CreateRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(Make(r, default, ModeBits.Regular | (r.Mode & ModeBits.PermMask), unnamed: true, open: true), true, ct);
        ReplyCreated(r, res);
    });

    private void ReplyCreated(CreateRequest r, NsResult res)
    {
        if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
        var a = res.Attr!;
        bool append = IsAppend(r.Flags);
        ulong fh = AddHandle(new Handle(a.Ino, null, 0, append));
        if (!r.Reply(ToEntry(a), fh, OpenReplyFlags(append))) CloseHandle(fh);
    }

    protected override void Link(LinkRequest r) =>
        HandleAsync(r, async ct => ReplyEntry(r, await Ns(new NsLink(_volume, 0, r.OldNodeId, r.NodeId, Bytes(r.NewName), _node, NextRequestId()), true, ct)));

    protected override void Unlink(UnlinkRequest r) =>
        HandleAsync(r, async ct => ReplyEmpty(r, await Ns(new NsRemove(_volume, 0, r.NodeId, Bytes(r.Name), false, _node, NextRequestId()), true, ct)));

    protected override void RmDir(RmDirRequest r) =>
        HandleAsync(r, async ct => ReplyEmpty(r, await Ns(new NsRemove(_volume, 0, r.NodeId, Bytes(r.Name), true, _node, NextRequestId()), true, ct)));

    protected override void Rename(RenameRequest r) => HandleAsync(r, async ct => ReplyEmpty(r,
        await Ns(new NsRename(_volume, 0, r.NodeId, Bytes(r.Name), r.NewDir, Bytes(r.NewName), (uint)r.Flags, r.Uid, r.Gid, _node, NextRequestId()), true, ct)));

    // ---------------------------------------------------------------- xattrs

    protected override void SetXAttr(SetXAttrRequest r) => HandleAsync(r, async ct =>
        ReplyEmpty(r, await Ns(new NsSetXattr(_volume, 0, r.NodeId, r.Name, r.Value, (uint)r.Flags, _node, NextRequestId()), true, ct)));

    protected override void GetXAttr(GetXAttrRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(new NsGetXattr(_volume, r.NodeId, r.Name), true, ct);
        if (!res.IsOk) r.Fail((Errno)res.Errno);
        else r.Reply(res.Bytes!);
    });

    protected override void ListXAttr(ListXAttrRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(new NsListXattr(_volume, r.NodeId), true, ct);
        if (!res.IsOk) r.Fail((Errno)res.Errno);
        else r.Reply(res.Names!);
    });

    protected override void RemoveXAttr(RemoveXAttrRequest r) => HandleAsync(r, async ct =>
        ReplyEmpty(r, await Ns(new NsRemoveXattr(_volume, 0, r.NodeId, r.Name, _node, NextRequestId()), true, ct)));

    // ---------------------------------------------------------------- open files and data

    private ulong AddHandle(Handle h)
    {
        ulong fh = _nextFh++;
        _handles.Add(fh, h);
        if (h.Listing is null) _open[h.Ino] = _open.GetValueOrDefault(h.Ino) + 1;
        return fh;
    }

    private void CloseHandle(ulong fh)
    {
        if (!_handles.Remove(fh, out var h)) return;
        if (h.Listing is not null) return;
        int left = _open.GetValueOrDefault(h.Ino) - 1;
        if (left > 0) { _open[h.Ino] = left; return; }
        _open.Remove(h.Ino);
        _sizes.Remove(h.Ino);
        // The namespace frees an unlinked file after the last close on every node; no caller waits for this.
        _ = Ask<NsResult>(_ns, new NsClose(_volume, h.Ino, _node), true, CancellationToken.None)
            .ContinueWith(t => { if (t.IsFaulted) Log.Warning("close of {0} not confirmed by the namespace", h.Ino); }, TaskScheduler.Default);
    }

    protected override void Open(OpenRequest r) => HandleAsync(r, async ct =>
    {
        // Close-to-open: the namespace's attributes now, and no KEEP_CACHE, so the kernel drops pages cached earlier.
        var res = await Ns(new NsOpen(_volume, r.NodeId, _node), true, ct);
        _cache?.Answered(res);
        if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
        if (ModeBits.IsDirectory(res.Attr!.Mode)) { r.Fail(Errno.EISDIR); return; }
        Seen(res.Attr);
        bool append = IsAppend(r.Flags);
        ulong fh = AddHandle(new Handle(r.NodeId, null, 0, append));
        if (!r.Reply(fh, OpenReplyFlags(append))) CloseHandle(fh);
    });

    protected override void OpenDir(OpenRequest r) => HandleAsync(r, async ct =>
    {
        var res = await Ns(new NsReadDir(_volume, r.NodeId), true, ct);
        _cache?.Listed(r.NodeId, res);
        if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
        ulong fh = AddHandle(new Handle(r.NodeId, res.Entries!, res.Count));
        if (!r.Reply(fh)) CloseHandle(fh);
    });

    protected override void ReadDir(ReadDirRequest r)
    {
        if (!_handles.TryGetValue(r.Fh, out var h) || h.Listing is null) { r.Fail(Errno.EBADF); return; }
        // Cookies: 1 after ".", 2 after "..", then each name's own cookie from the namespace (stable across
        // listings: a name removed or added elsewhere never shifts the others).
        if (r.Offset == 0 && !r.TryAdd("."u8, h.Ino, ModeBits.Directory, 1)) { r.Reply(); return; }
        if (r.Offset <= 1 && !r.TryAdd(".."u8, h.Parent, ModeBits.Directory, 2)) { r.Reply(); return; }
        var listing = h.Listing;
        int lo = 0, hi = listing.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (listing[mid].Cookie <= r.Offset) lo = mid + 1; else hi = mid;
        }
        for (int i = lo; i < listing.Length; i++)
        {
            var e = listing[i];
            if (!r.TryAdd(e.Name, e.Ino, e.Mode, e.Cookie)) break;
        }
        r.Reply();
    }

    protected override void Release(ReleaseRequest r)
    {
        if (_handles.TryGetValue(r.Fh, out var h) && (r.ReleaseFlags & ReleaseFlags.FlockUnlock) != 0)
            UnlockFlock(h.Ino, r.LockOwner);
        CloseHandle(r.Fh);
        r.Reply();
    }

    protected override void ReleaseDir(ReleaseRequest r)
    {
        _handles.Remove(r.Fh);
        r.Reply();
    }

    // Every answered WRITE, SETATTR and metadata change is already durable in the store: nothing is left to flush.
    protected override void Flush(FlushRequest r) => r.Reply();
    protected override void Fsync(FsyncRequest r) => r.Reply();
    protected override void FsyncDir(FsyncRequest r) => r.Reply();

    protected override void Read(ReadRequest r)
    {
        if (!_handles.TryGetValue(r.Fh, out var h) || h.Listing is not null) { r.Fail(Errno.EBADF); return; }
        ulong ino = h.Ino;
        HandleAsync(r, async ct =>
        {
            long cs = _settings.ChunkSize;
            long offset = (long)r.Offset;
            int size = (int)r.Size;
            int chunks = (int)((offset + size - 1) / cs - offset / cs + 1);
            var reads = new Task<ChunkResult>[chunks];
            for (int i = 0; i < chunks; i++)
            {
                long index = offset / cs + i;
                long from = Math.Max(offset, index * cs);
                long to = Math.Min(offset + size, (index + 1) * cs);
                reads[i] = Ask<ChunkResult>(_chunks, new ChunkRead(_volume, ino, index, (int)(from - index * cs), (int)(to - from)), true, ct);
            }
            var buffer = new byte[size];
            long end = offset; // one past the last byte that exists (data or hole below the size)
            for (int i = 0; i < chunks; i++)
            {
                var res = await reads[i];
                Check(res);
                long index = offset / cs + i;
                long from = Math.Max(offset, index * cs);
                var bytes = res.Data ?? [];
                bytes.CopyTo(buffer.AsSpan((int)(from - offset)));
                if (bytes.Length > 0) end = Math.Max(end, from + bytes.Length);
            }
            // Holes read as zeros up to the file's size; a chunk's data never lies beyond it.
            long known = (long)_sizes.GetValueOrDefault(ino);
            end = Math.Max(end, Math.Min(offset + size, known));
            r.Reply(buffer.AsMemory(0, (int)Math.Max(0, end - offset)));
        });
    }

    protected override void Write(WriteRequest r)
    {
        if (!_handles.TryGetValue(r.Fh, out var h) || h.Listing is not null) { r.Fail(Errno.EBADF); return; }
        ulong ino = h.Ino;
        // The payload lives in the device buffer only until the answer: copy it now.
        var data = r.Data.ToArray();
        bool append = h.Append;
        long requested = (long)r.Offset;
        HandleAsync(r, async ct =>
        {
            long offset = requested;
            if (append)
            {
                // Numbered: a second try gets the first reservation, never a second one (which would leave a gap).
                var reserved = await Ns(new NsAppend(_volume, 0, ino, (ulong)data.Length, _node, NextRequestId()), true, ct);
                if (!reserved.IsOk) { r.Fail((Errno)reserved.Errno); return; }
                offset = (long)reserved.Attr!.Size - data.Length;
            }
            await WriteChunks(ino, offset, data, ct);
            // Then the size and mtime, and the other nodes hear of the change.
            var res = await Ns(new NsWritten(_volume, 0, ino, (ulong)(offset + data.Length), false, _node, (ulong)offset), true, ct);
            if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
            Seen(res.Attr!);
            r.Reply((uint)data.Length);
        });
    }

    private async Task WriteChunks(ulong ino, long offset, byte[] data, CancellationToken ct)
    {
        long cs = _settings.ChunkSize;
        var tasks = new List<Task<ChunkResult>>();
        for (long at = offset; at < offset + data.Length;)
        {
            long index = at / cs;
            long to = Math.Min(offset + data.Length, (index + 1) * cs);
            var part = to - at == data.Length ? data : data.AsSpan((int)(at - offset), (int)(to - at)).ToArray();
            tasks.Add(Ask<ChunkResult>(_chunks, new ChunkWrite(_volume, ino, index, (int)(at - index * cs), part), true, ct));
            at = to;
        }
        foreach (var t in tasks) Check(await t);
    }

    /// <summary>SEEK_DATA and SEEK_HOLE at chunk granularity: a chunk that was never written (or was emptied by a
    /// truncate) is a hole; one that holds data counts as data throughout. The end of the file is a hole.</summary>
    protected override void Lseek(LseekRequest r)
    {
        const uint seekData = 3, seekHole = 4;
        if (r.Whence is not (seekData or seekHole)) { r.Fail(Errno.EINVAL); return; }
        ulong ino = r.NodeId;
        HandleAsync(r, async ct =>
        {
            long cs = _settings.ChunkSize;
            long offset = (long)r.Offset;
            long first = offset / cs;
            var res = await Ns(new NsChunks(_volume, ino, first), true, ct);
            if (!res.IsOk) { r.Fail((Errno)res.Errno); return; }
            long size = (long)res.Attr!.Size;
            if (offset >= size) { r.Fail(Errno.ENXIO); return; }
            var chunks = res.Chunks ?? [];
            if (r.Whence == seekData)
            {
                if (chunks.Length == 0) { r.Fail(Errno.ENXIO); return; }
                r.Reply((ulong)Math.Max(offset, chunks[0] * cs));
                return;
            }
            // SEEK_HOLE: the first chunk index from `first` on that is not in the (sorted) list.
            long hole = first;
            foreach (var i in chunks)
            {
                if (i != hole) break;
                hole++;
            }
            r.Reply((ulong)Math.Min(size, Math.Max(offset, hole * cs)));
        });
    }

    // ---------------------------------------------------------------- locks

    protected override void GetLock(GetLockRequest r) => HandleAsync(r, async ct =>
    {
        var wanted = new HeldLock(r.NodeId, r.Owner, r.Lock.Start, r.Lock.End, (int)r.Lock.Type, r.Lock.Pid, false);
        var res = await Ask<LockResult>(_ns, new NsLock(_volume, _node, wanted, true, false, 0), true, ct);
        if (res.Errno != 0) { r.Fail((Errno)res.Errno); return; }
        r.Reply(res.Conflict is { } c ? new FileLock(c.Start, c.End, (LockType)c.Type, c.Pid) : r.Lock with { Type = LockType.Unlock });
    });

    protected override void SetLock(SetLockRequest r)
    {
        var wanted = new HeldLock(r.NodeId, r.Owner, r.Lock.Start, r.Lock.End, (int)r.Lock.Type, r.Lock.Pid, r.IsFlock);
        if (r.Wait && r.Lock.Type != LockType.Unlock)
        {
            // SETLKW may wait for ever: no ask, the namespace answers when the lock is ours (or we cancel).
            r.Defer();
            ulong id = _nextWaitId++;
            var msg = new NsLock(_volume, _node, wanted, false, true, id);
            _lockWaits[id] = (r, msg, DateTime.UtcNow);
            _ns.Tell(msg);
            return;
        }
        HandleAsync(r, async ct =>
        {
            var res = await Ask<LockResult>(_ns, new NsLock(_volume, _node, wanted, false, false, 0), true, ct);
            if (res.Errno != 0) { r.Fail((Errno)res.Errno); return; }
            Mirror(wanted);
            r.Reply();
        });
    }

    private void LockWaitAnswered(LockResult l)
    {
        if (!_lockWaits.Remove(l.WaitId, out var w))
        {
            // Granted after we gave up (interrupted): give it back.
            if (l.Errno == 0) Log.Debug("lock wait {0} answered after it ended", l.WaitId);
            return;
        }
        if (l.Errno != 0) { w.Request.Fail((Errno)l.Errno); return; }
        Mirror(w.Message.Lock);
        if (!w.Request.Reply())
        {
            // The engine answered first (interrupt grace): the caller does not hold it; release it.
            var unlock = w.Message.Lock with { Type = (int)LockType.Unlock };
            Mirror(unlock);
            _ns.Tell(new NsLock(_volume, _node, unlock, false, false, 0));
        }
    }

    /// <summary>A waiting SETLKW whose namespace entity moved (its node died) would wait for ever: ask again.</summary>
    private void ResendLockWaits()
    {
        var now = DateTime.UtcNow;
        foreach (var (id, w) in _lockWaits.ToList())
            if (now - w.SentAt > TimeSpan.FromSeconds(15))
            {
                _lockWaits[id] = w with { SentAt = now };
                _ns.Tell(w.Message);
            }
    }

    protected override void Interrupted(FsRequest request)
    {
        if (request is not SetLockRequest) return;
        foreach (var (id, w) in _lockWaits)
            if (ReferenceEquals(w.Request, request))
            {
                _lockWaits.Remove(id);
                _ns.Tell(new NsCancelLockWait(_volume, _node, id));
                request.Fail(Errno.EINTR);
                return;
            }
    }

    private void Mirror(HeldLock l)
    {
        var key = (l.Ino, l.Flock);
        if (!_heldLocks.TryGetValue(key, out var table)) _heldLocks[key] = table = new LockTable<ulong>();
        table.TrySet(l.Owner, new FileLock(l.Start, l.End, (LockType)l.Type, l.Pid));
        if (table.IsEmpty) _heldLocks.Remove(key);
    }

    private void UnlockFlock(ulong ino, ulong owner)
    {
        if (!_heldLocks.TryGetValue((ino, true), out var table)) return;
        bool holds = false;
        foreach (var (o, _) in table.Locks) if (o == owner) { holds = true; break; }
        if (!holds) return;
        var unlock = new HeldLock(ino, owner, 0, ulong.MaxValue, (int)LockType.Unlock, 0, true);
        Mirror(unlock);
        _ns.Tell(new NsLock(_volume, _node, unlock, false, false, 0));
    }

    protected override void Destroy(DestroyRequest r)
    {
        foreach (var ino in _open.Keys) _ns.Tell(new NsClose(_volume, ino, _node));
        _open.Clear();
        _handles.Clear();
        r.Reply();
    }
}
