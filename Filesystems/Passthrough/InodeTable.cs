using FuseActors.Actors.Connection;
using FuseActors.Filesystems.Interop;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// One host inode the kernel knows by a node id: an <c>O_PATH | O_NOFOLLOW</c> descriptor that pins the inode
/// (so its host inode number cannot be reused while we hand it out), its host identity, and the kernel's lookup
/// count. Every operation on the node goes through <see cref="Fd"/>: <c>*at(Fd, "", AT_EMPTY_PATH)</c> on the node
/// itself, <c>*at(Fd, name)</c> on a child; never a path.
/// </summary>
internal sealed class HostInode(ulong nodeId, int fd, ulong dev, ulong ino, uint type)
{
    public ulong NodeId { get; } = nodeId;
    /// <summary>The O_PATH descriptor; -1 once closed.</summary>
    public int Fd { get; set; } = fd;
    public ulong Dev { get; } = dev;
    public ulong Ino { get; } = ino;
    /// <summary>S_IF* type bits (an inode never changes type).</summary>
    public uint Type { get; } = type;
    /// <summary>How many times the kernel was handed this node and has not forgotten it yet.</summary>
    public ulong LookupCount { get; set; }

    // Kernel passthrough (FOPEN_PASSTHROUGH). The kernel puts an inode in one I/O mode at a time: while one open of
    // it is in passthrough, every further open must be too, with the same backing file (another backing id is
    // EBUSY, a cached open EINVAL); while a cached open exists, a passthrough open is ETXTBSY. Each of these becomes
    // EIO for the caller's open(2). So the daemon keeps the mode per inode: one backing id shared by all its
    // passthrough opens, counted, and closed with the last of them. The kernel leaves a mode when it drops the file,
    // before it sends RELEASE, so these counts are never below the kernel's own.
    /// <summary>The backing id all passthrough opens of this inode share; 0 while it has none.</summary>
    public int BackingId { get; set; }
    /// <summary>Open handles in passthrough mode (they hold <see cref="BackingId"/>).</summary>
    public int PassthroughOpens { get; set; }
    /// <summary>Open handles whose reads and writes come to the daemon.</summary>
    public int CachedOpens { get; set; }

    /// <summary>The host filesystem's statfs type (0 until first asked): asked once per inode, whose descriptor keeps
    /// its filesystem mounted, so the answer cannot go stale the way one kept per st_dev could (anonymous device
    /// numbers are reused after an unmount).</summary>
    public long FsType { get; set; }

    // keep-kernel-cache = auto (KernelCacheMode.Auto). An open that finds the host file changed replies without
    // FOPEN_KEEP_CACHE, and the kernel drops its cache in the opener's task, after that reply: until then another open
    // must not keep the cache either. So the new stamp is only pending until a request on that open's handle shows the
    // kernel finished the open (it is used), and while one is pending no open keeps the cache.
    /// <summary>What the host said of the file or directory when the kernel's cache was last made to match it: at an
    /// open that dropped the cache (once the kernel finished that open), or at the release of a handle that wrote
    /// through the mount. Null when unknown: the next open then does not keep the cache.</summary>
    public HostStamp? CacheStamp { get; set; }
    /// <summary>The stamp of an open that dropped the kernel's cache, and its handle, until that handle is used.</summary>
    public HostStamp? PendingStamp { get; set; }
    public ulong PendingFh { get; set; }

    /// <summary>An open whose stamp was pending ended without a use (see PassthroughFs.CloseFile): the stamp stays unknown.</summary>
    public void DropPending()
    {
        PendingStamp = null;
        PendingFh = 0;
    }

    /// <summary>A request used handle <paramref name="fh"/> of this node: an open waiting for that confirms its stamp.</summary>
    public void HandleUsed(ulong fh)
    {
        if (PendingFh != fh || fh == 0) return;
        CacheStamp = PendingStamp;
        PendingStamp = null;
        PendingFh = 0;
    }

    public bool IsDirectory => Type == 0x4000;
    public bool IsRegular => Type == 0x8000;
    public bool IsSymlink => Type == 0xA000;

    public override string ToString() => $"node {NodeId} (host {Dev:x}:{Ino}, fd {Fd}, lookups {LookupCount})";
}

/// <summary>
/// Node id → <see cref="HostInode"/>, deduplicated by host (st_dev, st_ino) so that hard links and repeated
/// lookups of one file share one node. Node ids come from a counter and are never reused, so the generation is
/// always 0. The root (node 1) is SOURCE itself; it is never forgotten and is kept out of the host map, so a
/// lookup can never hand out node 1 for a child (a bind mount of SOURCE inside SOURCE just gets its own node).
/// Not thread-safe: it belongs to one actor.
/// </summary>
internal sealed class InodeTable : IDisposable
{
    private readonly Dictionary<ulong, HostInode> _byId = new();
    private readonly Dictionary<(ulong Dev, ulong Ino), HostInode> _byHost = new();
    private ulong _nextId = FuseConstants.RootId + 1;
    private readonly DescriptorCloser _closer = new("passthrough-close");

    public InodeTable(int rootFd, in Statx rootStat)
    {
        Root = new HostInode(FuseConstants.RootId, rootFd, rootStat.Dev, rootStat.Ino, rootStat.Type) { LookupCount = 1 };
        _byId.Add(Root.NodeId, Root);
    }

    public HostInode Root { get; }
    /// <summary>Nodes alive, the root included.</summary>
    public int Count => _byId.Count;

    /// <summary>Whether the host inode of <paramref name="st"/> has a node already (a lookup of it takes no descriptor).</summary>
    public bool Knows(in Statx st) => _byHost.ContainsKey((st.Dev, st.Ino));

    // Descriptors of dropped nodes handed to the closer thread (see DropIfUnused), and those waiting for the end of a
    // mailbox run (process-wide: the close runs as a static action).
    private long _handedToCloser;
    private static long s_closingAfterMailboxes;

    /// <summary>Descriptors of dropped nodes not closed yet: they still take slots in the process's table.</summary>
    public long PendingCloses => _handedToCloser - _closer.Closed + Interlocked.Read(ref s_closingAfterMailboxes);

    public HostInode? Get(ulong nodeId) => _byId.GetValueOrDefault(nodeId);

    /// <summary>The node for the host inode behind <paramref name="fd"/> (an O_PATH descriptor whose stat is
    /// <paramref name="st"/>). Takes ownership of <paramref name="fd"/>: it becomes the new node's descriptor, or is
    /// closed when the inode already has a node. The caller adds the lookup once its reply really went out.</summary>
    public HostInode GetOrAdd(int fd, in Statx st, out bool created)
    {
        var key = (st.Dev, st.Ino);
        if (_byHost.TryGetValue(key, out var existing))
        {
            Native.close(fd);
            created = false;
            return existing;
        }
        var n = new HostInode(_nextId++, fd, st.Dev, st.Ino, st.Type);
        _byId.Add(n.NodeId, n);
        _byHost.Add(key, n);
        created = true;
        return n;
    }

    /// <summary>Subtracts <paramref name="count"/> kernel references; closes and removes the node at zero (never the root).</summary>
    public void Forget(HostInode n, ulong count)
    {
        n.LookupCount = count >= n.LookupCount ? 0 : n.LookupCount - count;
        DropIfUnused(n);
    }

    /// <summary>Closes and removes a node the kernel holds no reference to (e.g. one whose reply never went out).</summary>
    public void DropIfUnused(HostInode n)
    {
        if (n == Root || n.LookupCount != 0) return;
        if (!_byId.Remove(n.NodeId)) return;
        _byHost.Remove((n.Dev, n.Ino));
        if (n.Fd >= 0)
        {
            // The last descriptor of an unlinked host file is where the host deletes it (on ext4: frees its blocks and
            // inode through the journal, tens of µs): never while this actor and the connection hold their mailboxes,
            // where the next UNLINK waits for it. A /dev/fuse reader (also the one beside the io_uring queues, which
            // reads FORGET), or one of the I/O pool's threads that run mailboxes, closes it once it lets go of them, as
            // passthrough_hp closes on the thread that read the FORGET: the other readers serve meanwhile, and no thread
            // is woken. An io_uring queue's thread hands it to the closer: the caller's next request comes to that
            // thread's queue and would wait for the close. Any other thread (Akka's default dispatcher) closes it at once.
            if (IoUringFuseQueue.OnAnyQueueThread)
            {
                _handedToCloser++;
                _closer.Close(n.Fd);
            }
            else
            {
                Interlocked.Increment(ref s_closingAfterMailboxes);
                if (!InlineDispatcher.RunAfterMailboxes(CloseDescriptor, n.Fd)) CloseDescriptor(n.Fd);
            }
            n.Fd = -1;
        }
    }

    private static readonly Action<long> CloseDescriptor = static fd =>
    {
        Native.close((int)fd);
        Interlocked.Decrement(ref s_closingAfterMailboxes);
    };

    /// <summary>The kernel dropped every reference (unmount): close every node but the root.</summary>
    public void ForgetAll()
    {
        foreach (var n in _byId.Values.ToArray())
        {
            if (n == Root) continue;
            n.LookupCount = 0;
            DropIfUnused(n);
        }
    }

    public void Dispose()
    {
        ForgetAll();
        _closer.Dispose();
        if (Root.Fd >= 0)
        {
            Native.close(Root.Fd);
            Root.Fd = -1;
        }
        _byId.Clear();
    }
}

/// <summary>What tells a host file's or directory's contents changed: its mtime, its ctime (which nothing can set
/// back, unlike mtime: touch -r, rsync -t) and its size.</summary>
internal readonly record struct HostStamp(long MtimeNs, long CtimeNs, long Size);
