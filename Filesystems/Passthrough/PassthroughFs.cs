using FuseActors.Filesystems.Interop;
using System.Buffers;
using System.Text;
using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;
using static FuseActors.Filesystems.Interop.Native;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// Mirrors a host directory (SOURCE), handle-based like libfuse's passthrough_hp and go-fuse's loopback: every
/// node the kernel knows holds an <c>O_PATH | O_NOFOLLOW</c> descriptor of its host inode (<see cref="InodeTable"/>,
/// deduplicated by host dev+ino, so hard links are one node), and every operation is a <c>*at</c> call relative to
/// such a descriptor with a single validated name component, or <c>AT_EMPTY_PATH</c> on the node's own descriptor.
/// <c>/proc/self/fd/N</c> is used only where no <c>*at</c> form exists (reopening an inode for I/O, chmod, xattrs,
/// access); its magic link resolves to the inode itself, never through a symlink's target.
/// Consequences: no path is ever resolved by the daemon, so nothing escapes SOURCE — names with '/', "." or ".."
/// are refused, symlinks are never followed (they are returned as links; the caller's kernel resolves them in the
/// caller's namespace), and a rename racing a lookup can only move the daemon to another inode it already holds.
/// Errors are the host's errno, read right after the failing call. The mount is expected to use
/// default_permissions: the kernel checks permissions, this actor (as root) does what was allowed.
/// With <see cref="PassthroughOptions.KernelPassthrough"/> on a connection that negotiated FUSE_PASSTHROUGH, opened
/// regular files are served by the kernel on the host file itself (FOPEN_PASSTHROUGH, see <see cref="StartIo"/>);
/// everything else, and every open the kernel cannot pass through, takes the plain path through this actor.
///
/// Threading: with the default inline dispatch the actor runs on the device reader thread, so a host call that
/// hangs (a stalled network filesystem under SOURCE) would hold up every request of the mount. The data path on an
/// open handle — READ, WRITE, FLUSH, FSYNC/FSYNCDIR, FALLOCATE, LSEEK, COPY_FILE_RANGE — therefore runs its host
/// call on the filesystem's own I/O threads (<see cref="HostIoPool"/>, <see cref="PassthroughOptions.IoThreads"/>):
/// the actor checks the handle, takes a reference on it (<see cref="OpenHandle.Acquire"/>, so RELEASE cannot close
/// its descriptor under the call) and defers the request; a pool thread makes the call and answers. Exceptions,
/// each for speed: a READ first tries the host page cache without waiting (<c>preadv2(RWF_NOWAIT)</c>) on the
/// actor's thread (not an O_DIRECT one over io_uring on its queue's thread: see <see cref="Read"/>), and only what
/// would wait goes to the pool, so a cached read costs what it did before (no thread hop); files whose data lives in
/// memory (tmpfs, ramfs) keep all their I/O on the actor, as nothing there waits for a device or a server; and on local block-device filesystems (ext4, xfs, btrfs, f2fs) buffered WRITEs and
/// FLUSH stay on the actor too (see <see cref="Write"/>), and a call that waits for such a device runs on the device
/// reader that carried it once the mailboxes are let go, where a reader may take it (<see cref="ReaderThreadIo"/>).
/// Metadata requests (LOOKUP, GETATTR, SETATTR, CREATE, OPEN, MKDIR, UNLINK, RENAME, READDIR, xattrs...) still run
/// inline on the actor: they read and change the inode and handle tables, which
/// belong to the actor alone; so a stalled host still stalls those (and, behind them, the mount), but no longer
/// the reads and writes of healthy files. The per-inode bookkeeping (open counts, backing ids) stays on the actor.
/// <see cref="PassthroughOptions.Dispatcher"/> lets the whole actor run on another dispatcher.
/// </summary>
public sealed unsafe class PassthroughFs : FilesystemActor
{
    /// <summary>Room for a 255-byte name and its NUL.</summary>
    private const int NameBufferSize = 256;
    private const int MaxNameBytes = 255;
    private const int PathMax = 4096;
    private const int XattrMax = 64 * 1024;

    /// <summary>Props for a PassthroughFs serving <paramref name="sourceDirectory"/> (checked here, so a bad path fails
    /// the caller, not the actor).</summary>
    public static Props Props(string sourceDirectory, PassthroughOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceDirectory);
        var full = Path.GetFullPath(sourceDirectory);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"passthrough source '{full}' is not a directory");
        return Props(Encoding.UTF8.GetBytes(full), options);
    }

    /// <summary>Props for a PassthroughFs serving the directory whose path is these bytes (no NUL): a path that is not
    /// valid UTF-8, which no string can name. A relative path is taken from the current directory now.</summary>
    public static Props Props(byte[] sourceDirectory, PassthroughOptions? options = null)
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess)
            throw new PlatformNotSupportedException("PassthroughFs needs 64-bit Linux");
        if (sourceDirectory.Length == 0) throw new ArgumentException("empty source path", nameof(sourceDirectory));
        if (sourceDirectory[0] != (byte)'/')
            sourceDirectory = [.. Encoding.UTF8.GetBytes(Directory.GetCurrentDirectory().TrimEnd('/') + "/"), .. sourceDirectory];
        int fd = OpenSource(sourceDirectory);
        if (fd < 0) throw new DirectoryNotFoundException($"passthrough source '{Display(sourceDirectory)}' is not a directory: {LastError()}");
        close(fd);
        options ??= PassthroughOptions.Default;
        ArgumentOutOfRangeException.ThrowIfNegative(options.IoThreads, nameof(options.IoThreads));
        var props = Akka.Actor.Props.Create<PassthroughFs>(sourceDirectory, options);
        return options.Dispatcher is { } d ? props.WithDispatcher(d) : props;
    }

    private static int OpenSource(byte[] path)
    {
        var z = new byte[path.Length + 1];
        path.CopyTo(z, 0);
        fixed (byte* p = z) return openat(AT_FDCWD, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    }

    /// <summary>A path's bytes for a message (U+FFFD for what is not UTF-8).</summary>
    private static string Display(byte[] path) => Encoding.UTF8.GetString(path);

    private readonly PassthroughOptions _options;

    /// <summary>Open passes O_TRUNC on to the host open(2), so the kernel may send it in OPEN: one round trip less than OPEN + SETATTR.</summary>
    // DirectIoMmap: an O_DIRECT open is FOPEN_DIRECT_IO (see FileOpenFlags), and its page-cache writes (a shared
    // mapping's) are placed at their offsets (HostIo.Write).
    protected override FilesystemCapabilities Capabilities => FilesystemCapabilities.HandlesOpenTruncate | FilesystemCapabilities.DirectIoMmap;
    private readonly InodeTable _inodes;
    // What the kernel's nodes and open files may hold of the process's descriptors (see DescriptorBudget).
    private readonly DescriptorBudget _budget;
    private readonly OpenHandles _handles = new();
    /// <summary>The O_DIRECT buffer of the calls the actor makes itself (each pool thread, and each device reader that
    /// runs calls itself, has its own).</summary>
    private readonly AlignedBuffer _direct = new();
    /// <summary>The I/O threads of the data path; null with <see cref="PassthroughOptions.IoThreads"/> = 0 (every call on the actor).</summary>
    private readonly HostIoPool? _io;
    private readonly bool _chownToCaller;
    private readonly uint _daemonGid;
    private readonly byte[] _xattrBuffer = GC.AllocateUninitializedArray<byte>(XattrMax, pinned: true);
    /// <summary>The kernel refused backing files for the whole connection: stop asking.</summary>
    private bool _backingUnavailable;
    /// <summary>BACKING_OPEN errors already logged (each is logged once).</summary>
    private readonly HashSet<Errno> _backingErrorsLogged = new();

    /// <param name="sourceDirectory">The absolute path of the source directory as bytes, without a NUL.</param>
    public PassthroughFs(byte[] sourceDirectory, PassthroughOptions options)
    {
        _options = options;
        int fd = OpenSource(sourceDirectory);
        if (fd < 0) throw new IOException($"cannot open passthrough source '{Display(sourceDirectory)}': {LastError()}");
        Statx st;
        if (statx(fd, EmptyPath, AT_EMPTY_PATH, STATX_BASIC_STATS, &st) < 0)
        {
            var e = LastError();
            close(fd);
            throw new IOException($"cannot stat passthrough source '{Display(sourceDirectory)}': {e}");
        }
        _inodes = new InodeTable(fd, st);
        _budget = DescriptorBudget.ForThisProcess();
        _chownToCaller = options.OwnerFromCaller && geteuid() == 0;
        _daemonGid = getegid();
        if (options.IoThreads > 0) _io = new HostIoPool(options.IoThreads, "passthrough", Log);
        _ringReadEnded = OnRingReadEnded;
    }

    // The pool stops before FilesystemActor answers EIO for the requests still deferred (in AroundPostStop and
    // AroundPreRestart): calls just finishing then answer themselves, and are done with their WRITE buffers. A call a
    // device reader runs itself (ReaderThreadIo) is not waited for: one not started yet sees its request answered and
    // skips the host call; one under way answers late (dropped), and its WRITE buffer, orphaned, goes to the GC.
    private void StopIo() => _io?.Stop(TimeSpan.FromSeconds(1));

    public override void AroundPostStop()
    {
        StopIo();
        base.AroundPostStop();
    }

    public override void AroundPreRestart(Exception cause, object? message)
    {
        StopIo();
        base.AroundPreRestart(cause, message);
    }

    protected override void PostStop()
    {
        // The I/O pool is stopped already (AroundPostStop).
        _direct.Dispose();
        _handles.Dispose();
        _inodes.Dispose();
        base.PostStop();
    }

    // ---------------------------------------------------------------- names and attributes

    protected override void Lookup(LookupRequest r)
    {
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        Errno err;
        HostInode? node;
        Statx st;
        fixed (byte* pn = name) err = LookupAt(parent.Fd, pn, out node, out st);
        if (err != Errno.Ok) { r.Fail(err); return; }
        ReplyEntry(r, node!, in st);
    }

    /// <summary>Fails <paramref name="r"/> with EMFILE when it could take descriptors beyond the filesystem's budget: for
    /// requests that make a node or open a file. A lookup is held back only where it would make a new node (Adopt).</summary>
    private bool OverBudget(FsRequest r)
    {
        if (!AtBudget) return false;
        r.Fail(Errno.EMFILE);
        return true;
    }

    /// <summary>The descriptors held for the kernel (a node holds one, an open file up to two, a dropped node's until it is
    /// closed) reach the budget: the rest are the runtime's, which aborts the process when it runs out.</summary>
    private bool AtBudget => _inodes.Count + _inodes.PendingCloses + 2L * _handles.Count >= _budget.Available;

    protected override void Forget(ForgetRequest r)
    {
        foreach (ref readonly var f in r.Forgets)
        {
            if (_inodes.Get(f.NodeId) is not { } n)
            {
                Log.Warning("FORGET of unknown node {Node}", f.NodeId);
                continue;
            }
            if (n == _inodes.Root) continue;
            _inodes.Forget(n, f.NLookup);
        }
    }

    protected override void GetAttr(GetAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        Statx st;
        var err = r.Fh is { } fh && _handles.Get(fh) is { } h ? StatFd(h.Fd, out st) : StatNode(n, out st);
        if (err != Errno.Ok) { r.Fail(err); return; }
        r.Reply(ToAttr(in st), _options.AttrTimeout);
    }

    protected override void SetAttr(SetAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        int hfd = r.Fh is { } fh && _handles.Get(fh) is { } h && h.Directory is null ? h.Fd : -1;
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);

        fixed (byte* pp = proc)
        {
            // Owner first: chown by root clears set-user-id/set-group-id, so an explicit mode in the same request wins.
            if (r.SetsUid || r.SetsGid)
            {
                uint uid = r.SetsUid ? r.AttrUid : uint.MaxValue;
                uint gid = r.SetsGid ? r.AttrGid : uint.MaxValue;
                if (fchownat(n.Fd, EmptyPath, uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) { r.Fail(LastError()); return; }
            }
            if (r.SetsMode)
            {
                uint mode = r.Mode & 0xFFF;
                // Linux has no mode on symlinks to change (fchmodat(AT_SYMLINK_NOFOLLOW) is EOPNOTSUPP); and a
                // symlink's /proc path must never be chmod-ed "through".
                if (n.IsSymlink) { r.Fail(Errno.EOPNOTSUPP); return; }
                int rc = hfd >= 0 ? fchmod(hfd, mode) : fchmodat(AT_FDCWD, pp, mode, 0);
                if (rc < 0) { r.Fail(LastError()); return; }
            }
            if (r.SetsSize)
            {
                if (n.IsDirectory) { r.Fail(Errno.EISDIR); return; }
                if (!n.IsRegular) { r.Fail(Errno.EINVAL); return; }
                if (r.Size > long.MaxValue) { r.Fail(Errno.EFBIG); return; }
                if (hfd >= 0)
                {
                    if (ftruncate(hfd, (long)r.Size) < 0) { r.Fail(LastError()); return; }
                }
                else
                {
                    int tfd = openat(AT_FDCWD, pp, O_WRONLY | O_CLOEXEC, 0);
                    if (tfd < 0) { r.Fail(LastError()); return; }
                    int rc = ftruncate(tfd, (long)r.Size);
                    var err = rc < 0 ? LastError() : Errno.Ok;
                    close(tfd);
                    if (rc < 0) { r.Fail(err); return; }
                }
            }
            if (r.Has(SetAttrValid.KillSuidGid) && !r.SetsMode && n.IsRegular && StatNode(n, out var ks) == Errno.Ok)
            {
                // The kernel asks us to drop set-user-id (and set-group-id when group-executable), as a write would.
                uint mode = ModeBits.WithoutSetIdOnWrite(ks.Mode & 0xFFFu);
                if (mode != (ks.Mode & 0xFFFu) && fchmodat(AT_FDCWD, pp, mode, 0) < 0) { r.Fail(LastError()); return; }
            }
            if (r.SetsAtime || r.SetsMtime || r.AtimeNow || r.MtimeNow)
            {
                Timespec* ts = stackalloc Timespec[2];
                ts[0] = TimeOf(r.AtimeNow, r.SetsAtime, r.Atime);
                ts[1] = TimeOf(r.MtimeNow, r.SetsMtime, r.Mtime);
                int rc = hfd >= 0 ? futimens(hfd, ts) : utimensat(n.Fd, EmptyPath, ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
                if (rc < 0) { r.Fail(LastError()); return; }
            }
            // FATTR_CTIME: the host sets ctime itself on every change above; it cannot be set explicitly. A request that
            // changes nothing (chown(path, -1, -1): the kernel sends no FATTR bit, or only FATTR_CTIME with the writeback
            // cache) still moves ctime on ext4 and tmpfs, and so does the no-op chown done for it here.
            if (!(r.SetsUid || r.SetsGid || r.SetsMode || r.SetsSize || r.SetsAtime || r.SetsMtime || r.AtimeNow || r.MtimeNow || r.Has(SetAttrValid.KillSuidGid))
                && fchownat(n.Fd, EmptyPath, uint.MaxValue, uint.MaxValue, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
            {
                r.Fail(LastError());
                return;
            }
        }

        Statx st;
        var e = hfd >= 0 ? StatFd(hfd, out st) : StatNode(n, out st);
        if (e != Errno.Ok) { r.Fail(e); return; }
        r.Reply(ToAttr(in st), _options.AttrTimeout);
    }

    private static Timespec TimeOf(bool now, bool set, FsTime t) =>
        now ? new Timespec { Nsec = UTIME_NOW }
        : set ? new Timespec { Sec = t.Seconds, Nsec = t.Nanoseconds }
        : new Timespec { Nsec = UTIME_OMIT };

    protected override void ReadLink(ReadLinkRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        if (!n.IsSymlink) { r.Fail(Errno.EINVAL); return; }
        byte* buf = stackalloc byte[PathMax];
        nint len = readlinkat(n.Fd, EmptyPath, buf, PathMax);
        if (len < 0) { r.Fail(LastError()); return; }
        if (len == 0) { r.Fail(Errno.EIO); return; }
        r.Reply(new ReadOnlySpan<byte>(buf, (int)len)); // the target's bytes as the host has them
    }

    // ---------------------------------------------------------------- creating and removing names

    protected override void MkNod(MkNodRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        uint type = r.Mode & S_IFMT;
        if (type == 0) type = ModeBits.Regular; // mknod(2) treats type 0 as a regular file
        bool device = type is ModeBits.Char or ModeBits.Block;
        fixed (byte* pn = name)
        {
            if (mknodat(parent.Fd, pn, type | (r.Mode & 0xFFF), device ? DecodeFuseDev(r.Rdev) : 0) < 0) { r.Fail(LastError()); return; }
            FinishCreate(r, parent, pn, r.Mode & 0x1FF);
        }
    }

    protected override void MkDir(MkDirRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        fixed (byte* pn = name)
        {
            if (mkdirat(parent.Fd, pn, r.Mode & 0xFFF) < 0) { r.Fail(LastError()); return; }
            FinishCreate(r, parent, pn, r.Mode & 0x1FF);
        }
    }

    protected override void Symlink(SymlinkRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        if (r.Target.Length == 0) { r.Fail(Errno.ENOENT); return; }
        if (r.Target.Length >= PathMax) { r.Fail(Errno.ENAMETOOLONG); return; }
        if (r.Target.AsSpan().IndexOf((byte)0) >= 0) { r.Fail(Errno.EINVAL); return; }
        // The target's bytes go to the host as they are, and are never resolved by the daemon.
        Span<byte> target = stackalloc byte[PathMax];
        r.Target.CopyTo(target);
        target[r.Target.Length] = 0;
        fixed (byte* pn = name)
        fixed (byte* pt = target)
        {
            if (symlinkat(pt, parent.Fd, pn) < 0) { r.Fail(LastError()); return; }
            FinishCreate(r, parent, pn, null);
        }
    }

    protected override void Create(CreateRequest r)
    {
        // Not held back up front: past the budget the new node is refused (Adopt), and the file made is removed again.
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        // O_NOFOLLOW: a symlink put in place of the name meanwhile must never be followed out of SOURCE (ELOOP).
        int flags = HostOpenFlags(r.Flags, r.WritebackCache) | O_NOFOLLOW;
        bool exclusive = (r.Flags & OpenFlags.Exclusive) != 0;
        int fd = -1, opened = flags;
        bool created = false;
        fixed (byte* pn = name)
        {
            // Create exclusively so we know whether the file is ours to chown; without O_EXCL in the request an
            // existing file is then simply opened (retrying if it vanished in between).
            for (int attempt = 0; attempt < 3 && fd < 0; attempt++)
            {
                fd = openat(parent.Fd, pn, flags | O_CREAT | O_EXCL, r.Mode & 0xFFF);
                if (fd >= 0) { created = true; break; }
                var e = LastError();
                if (e != Errno.EEXIST || exclusive) { r.Fail(e); return; }
                opened = flags;
                fd = openat(parent.Fd, pn, opened, 0);
                if (fd < 0 && ReadableForWriteback(r.Flags, opened, LastError()))
                    fd = openat(parent.Fd, pn, opened = WriteOnly(opened), 0);
                if (fd >= 0) break;
                e = LastError();
                if (e != Errno.ENOENT) { r.Fail(e); return; }
            }
        }
        if (fd < 0) { r.Fail(Errno.ENOENT); return; }
        FinishCreate(r, fd, created, opened, parent, name);
    }

    /// <summary>open(O_TMPFILE): an unnamed file made by the host in the directory; a LINK may name it later (through
    /// its /proc path, as for any node).</summary>
    protected override void TmpFile(CreateRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } parent) return;
        // The kernel's flags may carry O_TMPFILE's own bits (__O_TMPFILE | O_DIRECTORY): set them exactly once.
        int tmpfile = OTmpFileBit | O_DIRECTORY;
        int flags = (HostOpenFlags(r.Flags, r.WritebackCache) & ~(tmpfile | O_TRUNC)) | tmpfile;
        int fd;
        fixed (byte* dot = ".\0"u8) fd = openat(parent.Fd, dot, flags, r.Mode & 0xFFF);
        if (fd < 0) { r.Fail(LastError()); return; }
        FinishCreate(r, fd, created: true, flags);
    }

    // __O_TMPFILE, the same on x86-64 and arm64 (O_TMPFILE is it plus O_DIRECTORY, which is not).
    private const int OTmpFileBit = 0x400000;

    /// <summary>The rest of CREATE and TMPFILE once the host file is open (with <paramref name="hostFlags"/>): its node,
    /// owner and mode, the I/O path, the reply. A CREATE that made the file (<paramref name="created"/>) and then fails
    /// takes it away again (see <see cref="RemoveCreated"/>): the caller's open(2) failed, so no file may be left
    /// behind, root's and empty, under its name.</summary>
    private void FinishCreate(CreateRequest r, int fd, bool created, int hostFlags, HostInode? parent = null, ReadOnlySpan<byte> name = default)
    {
        // The node comes from the open descriptor itself, not from the name, so a rename cannot swap it.
        bool passthrough = false;
        var err = ReopenAsPath(fd, out var node, out var st);
        if (err == Errno.Ok && created) err = ApplyOwnerAndMode(r, node!, ref st, r.Mode & 0x1FF, fd);
        // An existing file opened with O_TRUNC (the name appeared on the host after the kernel's lookup).
        if (err == Errno.Ok && !created && (r.Flags & OpenFlags.Truncate) != 0 && r.Uid != 0 && DropSetIdAfterTruncate(node!, fd))
            err = StatFd(fd, out st);
        if (err == Errno.Ok) err = StartIo(r, node!, r.Flags, fd, out passthrough);
        if (err != Errno.Ok)
        {
            if (created && parent is not null) RemoveCreated(parent, name, fd, err);
            close(fd);
            if (node is not null) _inodes.DropIfUnused(node);
            r.Fail(err);
            return;
        }
        int buffered = -1;
        if (!passthrough && IsDirect(r.Flags)) fd = ReopenDirect(node!, fd, hostFlags, out buffered);
        ulong fh = _handles.Add(fd, node!, passthrough: passthrough, bufferedTwin: buffered, inlineIo: InlineIo(node!), localDevice: LocalDevice(node!), inMemory: Waits(node!) == HostWaits.Nothing);
        var flags = FileOpenFlags(passthrough, r.Flags, node!, fd, out var now);
        bool replied = r.Reply(MakeEntry(node!, in st), fh, flags, passthrough ? node!.BackingId : 0);
        if (!passthrough) AfterOpen(node!, fh, flags, now, replied);
        if (replied)
        {
            node!.LookupCount++;
        }
        else
        {
            // The engine answered first (timeout/abort): the kernel never saw this node or handle.
            CloseFile(r, fh);
            _inodes.DropIfUnused(node!);
        }
    }

    /// <summary>
    /// A CREATE made <paramref name="name"/> in <paramref name="parent"/> (descriptor <paramref name="fd"/>) and then failed
    /// with <paramref name="why"/> (out of descriptors for the node's own, say, or the owner could not be given): the name
    /// is unlinked if it still names that file. Only system calls that need no new descriptor, so it works when the
    /// daemon is out of them. Metadata requests run one at a time on the filesystem's actor, so only a host-side rename
    /// between the check and the unlink could put another file under the name.
    /// </summary>
    private void RemoveCreated(HostInode parent, ReadOnlySpan<byte> name, int fd, Errno why)
    {
        Statx mine, named;
        string? left;
        fixed (byte* pn = name)
        {
            if (statx(fd, EmptyPath, AT_EMPTY_PATH, STATX_BASIC_STATS, &mine) < 0
                || statx(parent.Fd, pn, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &named) < 0)
                left = LastError().ToString();
            else if (mine.Ino != named.Ino || mine.Dev != named.Dev)
                left = "its name now names another file";
            else
                left = unlinkat(parent.Fd, pn, 0) < 0 ? LastError().ToString() : null;
        }
        if (left is null)
            Log.Debug("{Parent}: a CREATE failed with {Errno} after making its file on the host; the file was removed", parent, why);
        else
            Log.Warning("{Parent}: a CREATE failed with {Errno} after making its file on the host, which was left there: {Reason}", parent, why, left);
    }

    protected override void Link(LinkRequest r)
    {
        if (Node(r, r.OldNodeId) is not { } node) return;
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.NewName, name)) return;
        fixed (byte* pn = name)
        {
            if (linkat(node.Fd, EmptyPath, parent.Fd, pn, AT_EMPTY_PATH) < 0)
            {
                var e = LastError();
                if (e != Errno.ENOENT) { r.Fail(e); return; }
                // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it the magic link does the same job.
                Span<byte> proc = stackalloc byte[32];
                ProcPath(node.Fd, proc);
                fixed (byte* pp = proc)
                {
                    if (linkat(AT_FDCWD, pp, parent.Fd, pn, AT_SYMLINK_FOLLOW) < 0) { r.Fail(LastError()); return; }
                }
            }
        }
        var err = StatNode(node, out var st);
        if (err != Errno.Ok) { r.Fail(err); return; }
        ReplyEntry(r, node, in st);
    }

    protected override void Unlink(UnlinkRequest r)
    {
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        // The node (if the kernel knows it) keeps its O_PATH descriptor until FORGET, so open files stay usable.
        fixed (byte* pn = name)
        {
            if (unlinkat(parent.Fd, pn, 0) < 0) { r.Fail(LastError()); return; }
        }
        r.Reply();
    }

    protected override void RmDir(RmDirRequest r)
    {
        if (Node(r, r.NodeId) is not { } parent) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, name)) return;
        fixed (byte* pn = name)
        {
            if (unlinkat(parent.Fd, pn, AT_REMOVEDIR) < 0) { r.Fail(LastError()); return; }
        }
        r.Reply();
    }

    protected override void Rename(RenameRequest r)
    {
        if (Node(r, r.NodeId) is not { } from) return;
        if (Node(r, r.NewDir) is not { } to) return;
        Span<byte> oldName = stackalloc byte[NameBufferSize];
        Span<byte> newName = stackalloc byte[NameBufferSize];
        if (!EncodeName(r, r.Name, oldName) || !EncodeName(r, r.NewName, newName)) return;
        // NOREPLACE, EXCHANGE (and WHITEOUT) are the host's to check and perform.
        fixed (byte* po = oldName)
        fixed (byte* pn = newName)
        {
            if (renameat2(from.Fd, po, to.Fd, pn, (uint)r.Flags) < 0) { r.Fail(LastError()); return; }
        }
        r.Reply();
    }

    // ---------------------------------------------------------------- open files

    protected override void Open(OpenRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } n) return;
        if (n.IsSymlink) { r.Fail(Errno.ELOOP); return; }
        // No *at form opens an O_PATH inode for I/O: reopen its magic link (the inode itself, never a path).
        int hostFlags = HostOpenFlags(r.Flags, r.WritebackCache);
        int fd = OpenNode(n, hostFlags);
        if (fd < 0 && ReadableForWriteback(r.Flags, hostFlags, LastError())) fd = OpenNode(n, hostFlags = WriteOnly(hostFlags));
        if (fd < 0) { r.Fail(LastError()); return; }
        if ((r.Flags & OpenFlags.Truncate) != 0 && r.Uid != 0) DropSetIdAfterTruncate(n, fd);
        var err = StartIo(r, n, r.Flags, fd, out bool passthrough);
        if (err != Errno.Ok)
        {
            close(fd);
            r.Fail(err);
            return;
        }
        int buffered = -1;
        if (!passthrough && IsDirect(r.Flags)) fd = ReopenDirect(n, fd, hostFlags, out buffered);
        ulong fh = _handles.Add(fd, n, passthrough: passthrough, bufferedTwin: buffered, inlineIo: InlineIo(n), localDevice: LocalDevice(n), inMemory: Waits(n) == HostWaits.Nothing);
        var flags = FileOpenFlags(passthrough, r.Flags, n, fd, out var now);
        bool replied = r.Reply(fh, flags, passthrough ? n.BackingId : 0);
        if (!passthrough) AfterOpen(n, fh, flags, now, replied);
        if (!replied) CloseFile(r, fh);
    }

    /// <summary>
    /// The host kills set-id bits on a truncating open only for a caller without CAP_FSETID, and the daemon opens as
    /// itself (root); the kernel, with ATOMIC_O_TRUNC, leaves the mode change to us (fuse_setattr ends early for an
    /// open's truncate, and a CREATE that found the file is never truncated by the VFS at all). So a truncating open by
    /// anyone but root removes them here, as the VFS would for that caller (the request says nothing of capabilities:
    /// root stands for CAP_FSETID). The file is already truncated, so a failure is logged and the open goes on.
    /// Returns whether the mode changed.
    /// </summary>
    private bool DropSetIdAfterTruncate(HostInode n, int fd)
    {
        if (!n.IsRegular) return false;
        var e = StatFd(fd, out var st);
        if (e == Errno.Ok)
        {
            uint mode = st.Mode & 0xFFFu, want = ModeBits.WithoutSetIdOnWrite(mode);
            if (want == mode) return false;
            if (fchmod(fd, want) == 0) return true;
            e = LastError();
        }
        Log.Warning("{Node}: a truncating open left its set-id bits: {Errno}", n, e);
        return false;
    }

    /// <summary>
    /// Chooses how an open of the regular file <paramref name="n"/> (host descriptor <paramref name="fd"/>, just
    /// opened with the caller's <paramref name="flags"/>) does its reads and writes, and counts it: in passthrough
    /// (the kernel on the inode's backing file, registered on first use) or cached (READ/WRITE to the daemon).
    /// Passthrough is used when the options ask for it, the connection negotiated it and the inode is not open
    /// cached (see <see cref="HostInode.BackingId"/> for the kernel's rules). A failing BACKING_OPEN falls back to
    /// the cached path. Fails only when the host refuses O_DIRECT and the inode can only be opened in passthrough.
    /// </summary>
    private Errno StartIo(FsRequest r, HostInode n, OpenFlags flags, int fd, out bool passthrough)
    {
        passthrough = false;
        // Registering backing files may have stopped working (_backingUnavailable), but an inode already in passthrough
        // keeps its backing id: a further open must join it (the kernel refuses a cached open of it with EIO).
        if (!n.IsRegular || !_options.KernelPassthrough || (_backingUnavailable && n.PassthroughOpens == 0) || n.CachedOpens > 0 || !r.CanPassthrough())
        {
            n.CachedOpens++;
            return Errno.Ok;
        }
        if ((flags & OpenFlagsExtensions.Direct) != 0)
        {
            // The kernel opens its backing file with the caller's flags, O_DIRECT included, and turns a refusal into
            // EIO. Ask the host first: then the caller gets the host's errno, or (while no passthrough open forces the
            // mode) the cached path (ReopenDirect gives its handle O_DIRECT where the host takes it).
            var direct = ProbeDirect(n, flags);
            if (direct != Errno.Ok)
            {
                if (n.PassthroughOpens > 0) return direct;
                n.CachedOpens++;
                return Errno.Ok;
            }
        }
        if (n.BackingId == 0)
        {
            // Any descriptor of the inode will do: the kernel reopens the backing file's path with each open's own
            // flags and the daemon's credentials (so a read-only first open still serves later writers).
            int id = r.OpenBackingFile(fd);
            if (id <= 0)
            {
                NoteBackingFailure((Errno)(-id));
                n.CachedOpens++;
                return Errno.Ok;
            }
            n.BackingId = id;
        }
        n.PassthroughOpens++;
        passthrough = true;
        return Errno.Ok;
    }

    /// <summary>Can the host open this inode with O_DIRECT (and the caller's access mode)?</summary>
    private static Errno ProbeDirect(HostInode n, OpenFlags flags)
    {
        int probe = OpenNode(n, ((int)flags & O_ACCMODE) | O_DIRECT | O_CLOEXEC);
        if (probe < 0) return LastError();
        close(probe);
        return Errno.Ok;
    }

    private void NoteBackingFailure(Errno e)
    {
        // No CAP_SYS_ADMIN, or a kernel/device without backing files: every further open would fail the same way.
        if (e is Errno.EPERM or Errno.ENOTTY or Errno.EOPNOTSUPP) _backingUnavailable = true;
        if (_backingErrorsLogged.Add(e))
        {
            Log.Warning("kernel passthrough: registering a backing file failed with {Error}; {Which} use the daemon's read/write path",
                e, _backingUnavailable ? "all further opens" : "such opens");
        }
    }

    /// <summary>Closes a file handle and ends its I/O mode: the last passthrough open of an inode drops its backing id
    /// (files the kernel already opened with it keep their backing file).</summary>
    private bool CloseFile(FsRequest r, ulong fh)
    {
        // Not a use (Peek): the kernel sends RELEASE also for an open it failed after our reply, without dropping its
        // cache; a pending auto stamp of this handle is dropped instead of confirmed (a FLUSH confirms a close's).
        if (_handles.Peek(fh) is not { } h) return false;
        if (h.Inode.PendingFh == fh) h.Inode.DropPending();
        if (h.Directory is null)
        {
            var n = h.Inode;
            // The host file changed through this handle, perhaps on the host too meanwhile (which a stamp taken now
            // would take for ours): the next open starts the kernel's cache afresh.
            if (h.Changed && _options.KeepKernelCache == KernelCacheMode.Auto) n.CacheStamp = null;
            if (!h.Passthrough) n.CachedOpens--;
            else if (--n.PassthroughOpens == 0)
            {
                int rc = r.CloseBackingFile(n.BackingId);
                if (rc < 0) Log.Warning("kernel passthrough: closing backing id {BackingId} of {Node} failed with {Errno}", n.BackingId, n, (Errno)(-rc));
                n.BackingId = 0;
            }
        }
        return _handles.Close(fh);
    }

    protected override void OpenDir(OpenRequest r)
    {
        if (OverBudget(r)) return;
        if (Node(r, r.NodeId) is not { } n) return;
        int fd = openat(n.Fd, DotPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) { r.Fail(LastError()); return; }
        ulong fh = _handles.Add(fd, n, new DirectoryStream(fd), inlineIo: InlineIo(n));
        // The listing read in this open may be kept for the next; the one kept before only if nothing changed since.
        bool keep = KeepCache(n, fd, out var now);
        var flags = _options.KeepKernelCache == KernelCacheMode.Off ? FopenFlags.None : FopenFlags.CacheDir | (keep ? FopenFlags.KeepCache : 0);
        bool replied = r.Reply(fh, flags);
        AfterOpen(n, fh, flags, now, replied);
        if (!replied) _handles.Close(fh);
    }

    /// <summary>An open's FOPEN flags: passthrough (the kernel reads the host file itself, no page cache of ours to
    /// keep), or the kept page cache of <see cref="PassthroughOptions.KeepKernelCache"/>, with FOPEN_DIRECT_IO for an
    /// O_DIRECT open.</summary>
    private FopenFlags FileOpenFlags(bool passthrough, OpenFlags openFlags, HostInode n, int fd, out HostStamp? now)
    {
        now = null;
        if (passthrough) return FopenFlags.Passthrough;
        // An O_DIRECT open through the daemon skips the kernel's page cache altogether (FOPEN_DIRECT_IO), as
        // passthrough_hp does: the kernel's O_DIRECT path for a cached file also writes back and drops the range's
        // pages around every write and holds the inode lock exclusively, where this one sends the WRITE straight on
        // (and lets writes of several callers run in parallel). 1 MiB O_DIRECT writes on ext4: ~1.0 -> ~1.4 GB/s.
        var direct = IsDirect(openFlags) ? FopenFlags.DirectIo | FopenFlags.ParallelDirectWrites : 0;
        return direct | (KeepCache(n, fd, out now) ? FopenFlags.KeepCache : 0);
    }

    /// <summary>Whether an open of <paramref name="n"/> (descriptor <paramref name="fd"/>) lets the kernel keep what it
    /// cached (<see cref="PassthroughOptions.KeepKernelCache"/>). For auto: when the host's stamp is the one recorded
    /// when the cache was last made to match, and no open that dropped the cache is still unconfirmed (see
    /// <see cref="HostInode.PendingFh"/>); <paramref name="now"/> is the stamp <see cref="AfterOpen"/> records.</summary>
    private bool KeepCache(HostInode n, int fd, out HostStamp? now)
    {
        now = null;
        switch (_options.KeepKernelCache)
        {
            case KernelCacheMode.On: return true;
            case KernelCacheMode.Auto:
                now = StampOf(n, fd);
                return now is not null && n.PendingFh == 0 && n.CacheStamp == now;
            default: return false;
        }
    }

    /// <summary>After an open's reply, for auto: an open that dropped the kernel's cache leaves its stamp pending until
    /// its handle is used; one whose reply never reached the kernel (the engine answered it) leaves the stamp unknown.</summary>
    private void AfterOpen(HostInode n, ulong fh, FopenFlags flags, HostStamp? now, bool replied)
    {
        if (_options.KeepKernelCache != KernelCacheMode.Auto || (flags & FopenFlags.KeepCache) != 0) return;
        n.CacheStamp = null;
        if (!replied || now is null) return;
        n.PendingStamp = now;
        n.PendingFh = fh;
    }

    /// <summary>The host's stamp of <paramref name="n"/> through its open descriptor <paramref name="fd"/>, or null when
    /// it cannot be trusted: where timestamps are coarse (<see cref="FineTimestamps"/> false: older kernels, network and
    /// FUSE hosts whose clock is not ours, vfat's 2 s) two changes within one tick could leave it equal, so there auto
    /// never keeps the kernel's cache.</summary>
    private static HostStamp? StampOf(HostInode n, int fd)
    {
        if (!FineTimestamps(n)) return null;
        Statx st;
        if (statx(fd, EmptyPath, AT_EMPTY_PATH, STATX_MTIME | STATX_CTIME | STATX_SIZE, &st) < 0) return null;
        return new HostStamp(st.Mtime.Sec * 1_000_000_000 + st.Mtime.Nsec, st.Ctime.Sec * 1_000_000_000 + st.Ctime.Nsec, (long)st.Size);
    }

    protected override void Release(ReleaseRequest r)
    {
        if (!CloseFile(r, r.Fh)) Log.Warning("RELEASE of unknown handle {Handle}", r.Fh);
        r.Reply();
    }

    protected override void ReleaseDir(ReleaseRequest r)
    {
        _handles.Get(r.Fh); // a use: confirms an auto open's stamp
        if (!_handles.Close(r.Fh)) Log.Warning("RELEASEDIR of unknown handle {Handle}", r.Fh);
        r.Reply();
    }

    /// <summary>What a host filesystem's calls may wait for.</summary>
    private enum HostWaits : byte
    {
        /// <summary>A server or anything unknown (NFS, CIFS, FUSE, ...): its calls go to the I/O pool.</summary>
        Server,
        /// <summary>A local block device (ext4, xfs, btrfs, f2fs).</summary>
        LocalDevice,
        /// <summary>Nothing: the data is in memory (tmpfs, ramfs).</summary>
        Nothing,
    }

    /// <summary>From the statfs type of the inode's filesystem, asked once per inode (<see cref="HostInode.FsType"/>;
    /// not per st_dev: anonymous device numbers (tmpfs, FUSE, ...) are reused once a mount goes, and a FUSE mount
    /// taking a gone tmpfs's number must not be served inline). Only asked with an I/O pool: on NFS or FUSE a
    /// statfs is a round trip to the server.</summary>
    private static HostWaits Waits(HostInode n) =>
        HostFsType(n) switch
        {
            TMPFS_MAGIC or RAMFS_MAGIC => HostWaits.Nothing,
            EXT4_SUPER_MAGIC or XFS_SUPER_MAGIC or BTRFS_SUPER_MAGIC or F2FS_SUPER_MAGIC => HostWaits.LocalDevice,
            _ => HostWaits.Server,
        };

    /// <summary>The statfs type of the inode's filesystem, asked once (-1 when it cannot be asked).</summary>
    private static long HostFsType(HostInode n)
    {
        if (n.FsType == 0)
        {
            StatFsBuf s;
            n.FsType = fstatfs(n.Fd, &s) != 0 ? -1 : s.Type;
        }
        return n.FsType;
    }

    /// <summary>
    /// Whether two changes of <paramref name="n"/> can never share a ctime: since Linux 6.13 ext4, xfs, btrfs and tmpfs
    /// give a change a fine-grained timestamp once the previous one was looked at (multigrain timestamps), and every
    /// stamp here is looked at. Elsewhere a change within one timestamp tick could leave the stamp equal.
    /// </summary>
    private static bool FineTimestamps(HostInode n) =>
        MultigrainKernel && HostFsType(n) is EXT4_SUPER_MAGIC or XFS_SUPER_MAGIC or BTRFS_SUPER_MAGIC or TMPFS_MAGIC;

    private static readonly bool MultigrainKernel = Environment.OSVersion.Version >= new Version(6, 13);

    /// <summary>Whether a handle on <paramref name="n"/> makes all its host calls on the actor: always without an I/O
    /// pool; with one, only where the file's data is in memory (tmpfs, ramfs: a call there never waits for a device
    /// or a server, and a hop to a pool thread would cost more than the call).</summary>
    private bool InlineIo(HostInode n) => _io is null || Waits(n) == HostWaits.Nothing;

    private bool LocalDevice(HostInode n) => _io is not null && Waits(n) == HostWaits.LocalDevice;

    /// <summary>Hands a data-path call to the I/O pool: the request is answered from there, and the handles stay
    /// open (a reference each) until the call ends. A READ or WRITE (<paramref name="transfer"/>) of a local device's
    /// file whose handler runs on a device reader that may take it (<see cref="FsRequest.TryTakeReaderForWork"/>)
    /// runs on that reader instead, once the mailboxes are let go, unless a call waits there already (see
    /// <see cref="ReaderThreadIo"/>): its wait is bounded, and there it costs no thread wake-up.</summary>
    private void Offload(FsRequest r, OpenHandle h, OpenHandle? second = null, byte[]? buffer = null, int done = 0, bool transfer = false)
    {
        r.Defer();
        h.Acquire();
        second?.Acquire();
        var work = new IoWork { Request = r, Handle = h, Second = second, Buffer = buffer, Done = done };
        if (transfer && h.LocalDevice && ReaderThreadIo.TryRunAfterMailboxes(in work, Log)) return;
        _io!.Enqueue(work);
    }

    protected override void Read(ReadRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        if (r.Size == 0) { r.Reply(ReadOnlyMemory<byte>.Empty); return; }
        if (r.Offset > long.MaxValue) { r.Fail(Errno.EINVAL); return; }
        if (h.InlineIo)
        {
            HostIo.Read(r, h, null, 0, _direct);
            return;
        }
        // A range of a local disk's file that the host's page cache holds whole is answered from those pages, with no copy
        // in the daemon: spliced into /dev/fuse, or read straight into the ring entry over io_uring (see HostPageCache for
        // the waits this can still meet). Only a local disk's: a network filesystem may ask its server before it hands
        // over cached pages, and that wait belongs on the pool.
        if (h.LocalDevice && !h.Direct && r.Size >= FromFileMinimum && HostPageCache.HoldsWhole(h, (long)r.Offset, (int)r.Size))
        {
            r.ReplyFromFile(h.Fd, (long)r.Offset, (int)r.Size);
            return;
        }
        // Over io_uring, on the thread of the request's own queue, a local disk's O_DIRECT read is read by the ring itself
        // straight into the reply (StartRingRead), and that thread serves the queue's next requests while it is in flight.
        if (h.Direct && h.LocalDevice && r.OnItsIoUringQueueThread && StartRingRead(r, h)) return;
        byte[]? buffer = null;
        int done = 0;
        // An O_DIRECT read with RWF_NOWAIT still waits for the device (see ReadDirectNoWait), on this thread: while other
        // requests wait for it, such a read goes off the actor (Offload: the device reader after the mailboxes, or the
        // pool) so that reads of several callers reach the device together. Over io_uring, on the thread of the request's
        // own queue, one the ring did not take above always does, so that the other queues' requests, which may come at
        // any moment, never wait behind it for the mailboxes (read here, it held them: 4 KiB O_DIRECT random reads from
        // two jobs on two queues ran slower than from one): to that thread after the mailboxes for a local disk's file,
        // to the pool for another host's.
        if (!h.NoWaitUnsupported && !(h.Direct && (r.OnItsIoUringQueueThread || r.OthersWaiting)))
        {
            // What the host can answer without waiting is read here, at once; only a read that would wait goes to the pool.
            buffer = ArrayPool<byte>.Shared.Rent((int)r.Size);
            var result = h.Direct
                ? ReadDirectNoWait(h, _direct, buffer, (int)r.Size, (long)r.Offset, ref done)
                : ReadCached(h.Fd, buffer, (int)r.Size, (long)r.Offset, ref done);
            switch (result)
            {
                case CachedRead.Complete:
                    r.ReplyPooled(buffer, done);
                    return;
                case CachedRead.Unsupported:
                    h.NoWaitUnsupported = true;
                    break;
            }
        }
        // A buffered read of which the host's page cache had nothing: by the ring too, as above.
        if (done == 0 && !h.Direct && h.LocalDevice && r.OnItsIoUringQueueThread && StartRingRead(r, h))
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            return;
        }
        Offload(r, h, buffer: buffer, done: done, transfer: true);
    }

    /// <summary>
    /// Over io_uring, on the request's own queue thread: the read is submitted on that queue's ring, into the reply
    /// buffer (ReadRequest.TryReplyInPlaceByRing), and the thread goes on serving the queue's requests while the host
    /// reads. Read on that thread instead (as before), each read held the queue until the device answered: with four
    /// callers whose requests the scheduler had put on one CPU's queue, 4 KiB O_DIRECT random reads ran one at a time, at
    /// about half of passthrough_hp's rate, whose callers happened to stay spread over both queues. A local disk's file
    /// only: the engine cannot answer the request after a timeout or an interrupt until the read ends, so its wait must
    /// be bounded. The handle stays open (a reference) until the read has ended.
    /// </summary>
    private bool StartRingRead(ReadRequest r, OpenHandle h)
    {
        r.Defer();
        h.Acquire();
        bool started = false;
        try
        {
            started = r.TryReplyInPlaceByRing(h.Fd, (long)r.Offset, h, RingReadFilled, _ringReadEnded);
        }
        finally
        {
            if (!started) h.Release();
        }
        return started;
    }

    /// <summary>A ring read ended (on the queue's thread): whole, or nothing at the end of the file, is the answer. A
    /// buffered read cut short is read on in place (a local file's stops short only at its end); an O_DIRECT one cut
    /// short (the end of the file inside the block, a host serving O_DIRECT from its page cache) or an error is refused,
    /// and read again the usual way (OnRingReadEnded), which knows what to make of it.</summary>
    private static readonly RingReadFilled RingReadFilled = static (r, state, result, buffer) =>
    {
        if (result == buffer.Length || result == 0) return result;
        var h = (OpenHandle)state!;
        if (result < 0 || h.Direct) return -1;
        int more = FileRead.Fully(h.Fd, buffer[result..], (long)r.Offset + result);
        return more < 0 ? -1 : result + more;
    };

    private readonly RingReadEnded _ringReadEnded;

    /// <summary>A ring read's end: answered, or the request is ours again (refused, or the queue ended first), and is then
    /// read the usual way here, on the queue's thread (HostIo: errors answered with their errno, a throw with EIO).</summary>
    private void OnRingReadEnded(ReadRequest r, object? state, bool answered, Exception? failure)
    {
        var h = (OpenHandle)state!;
        if (answered)
        {
            h.Release();
            return;
        }
        if (failure is not null) Log.Error(failure, "ending the ring read of {Request} threw; reading it again", r);
        HostIo.RunOrAnswerEio(new IoWork { Request = r, Handle = h }, ReaderThreadIo.ThreadAligned, Log);
    }

    private enum CachedRead { Complete, WouldWait, Unsupported }

    /// <summary>The smallest READ answered from the host file itself (ReplyFromFile): below it a splice's three syscalls
    /// cost more than the copy they save, and cachestat's look more than it finds.</summary>
    internal const int FromFileMinimum = Engine.Device.SplicedFileReply.MinimumLength;

    /// <summary>
    /// Reads from the host page cache only (<c>preadv2(RWF_NOWAIT)</c>), from <paramref name="done"/> on, until the
    /// buffer is full or the host says end of file (<see cref="CachedRead.Complete"/>). RWF_NOWAIT may stop short
    /// where the cached part ends, which is not end of file: a reply that short would be end of file to the kernel,
    /// so the read goes on until a call returns 0 (end of file: the rest of the request is beyond it) or fails with
    /// EAGAIN (<see cref="CachedRead.WouldWait"/>: the pool reads the rest). EOPNOTSUPP (a host filesystem without
    /// RWF_NOWAIT: tmpfs, FUSE, NFS) is <see cref="CachedRead.Unsupported"/>. Any other error is left to the pool's
    /// blocking read, which answers it.
    /// </summary>
    private static CachedRead ReadCached(int fd, byte[] buffer, int size, long offset, ref int done)
    {
        fixed (byte* p = buffer)
        {
            Iovec iov;
            while (done < size)
            {
                iov.Base = p + done;
                iov.Length = (nuint)(size - done);
                nint n = preadv2(fd, &iov, 1, offset + done, RWF_NOWAIT);
                if (n > 0) done += (int)n;
                else if (n == 0) break;
                else
                {
                    var e = LastError();
                    if (e == Errno.EINTR) continue;
                    return e == Errno.EOPNOTSUPP ? CachedRead.Unsupported : CachedRead.WouldWait;
                }
            }
        }
        return CachedRead.Complete;
    }

    /// <summary>
    /// An O_DIRECT read with RWF_NOWAIT: the host filesystems that take it (ext4, xfs, btrfs: local block devices;
    /// network filesystems, FUSE and tmpfs answer EOPNOTSUPP) then refuse with EAGAIN what would wait for a lock or
    /// for block mapping, and otherwise read straight from the device, waiting only for the device's own answer —
    /// which is how every O_DIRECT read went before the pool. This keeps 4 KiB O_DIRECT random reads, which the
    /// host cannot cache, at their old latency: handing each to a pool thread costs a thread wake-up per read
    /// (measured: bench/PASSTHROUGH.md). Anything but a result (EAGAIN, EINVAL for an unaligned read, which the pool
    /// sends through the buffered twin) goes to the pool.
    /// A short result is not end of file here: where the host serves an O_DIRECT read from its page cache instead
    /// (ext4 data=journal or chattr +j, inline data, fs-verity, btrfs compressed extents), RWF_NOWAIT returns only
    /// what is cached. The rest is read from the buffered twin, page cache only as well, until it says end of file;
    /// what would wait goes to the pool, which goes on from there.
    /// </summary>
    private static CachedRead ReadDirectNoWait(OpenHandle h, AlignedBuffer aligned, byte[] buffer, int size, long offset, ref int done)
    {
        byte* a = aligned.Get(size);
        Iovec iov;
        iov.Base = a;
        iov.Length = (nuint)size;
        nint n;
        do n = preadv2(h.Fd, &iov, 1, offset, RWF_NOWAIT);
        while (n < 0 && LastError() == Errno.EINTR);
        if (n < 0) return LastError() == Errno.EOPNOTSUPP ? CachedRead.Unsupported : CachedRead.WouldWait;
        new ReadOnlySpan<byte>(a, (int)n).CopyTo(buffer);
        done = (int)n;
        if (n == 0 || n == size) return CachedRead.Complete;
        return ReadCached(h.BufferedFd, buffer, size, offset, ref done) == CachedRead.Complete ? CachedRead.Complete : CachedRead.WouldWait;
    }

    protected override void Write(WriteRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        h.Changed = true;
        if (r.Offset > long.MaxValue) { r.Fail(Errno.EFBIG); return; }
        // No RWF_NOWAIT attempt as for READ: ext4 and tmpfs answer EOPNOTSUPP to every buffered RWF_NOWAIT write
        // (Linux 6.18), so it would only add a call. A buffered write to a local block-device filesystem stays on the
        // actor instead: it is a copy into the host page cache, and handing it to a pool thread cost a thread
        // wake-up per WRITE (with FLUSH, about a third of the small-file write rate: bench/PASSTHROUGH.md). What it
        // trades: such a write can still wait, inline, when the host throttles a writer whose dirty pages outrun its
        // device (balance_dirty_pages), which on a block device that hangs (a network block device) means the mount
        // waits too. O_DIRECT writes, which wait for the device each time, go to the pool.
        if (h.InlineIo || (h.LocalDevice && !h.Direct)) HostIo.Write(r, h, _direct, Log);
        else Offload(r, h, transfer: true);
    }

    protected override void Flush(FlushRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        // The close(dup) may wait on the host (NFS writes back on close): off the actor, except on filesystems where a
        // close does nothing more than drop the descriptor (memory, local block devices).
        if (h.InlineIo || h.LocalDevice) HostIo.Flush(r, h);
        else Offload(r, h);
    }

    protected override void Fsync(FsyncRequest r) => DoFsync(r);
    protected override void FsyncDir(FsyncRequest r) => DoFsync(r);

    private void DoFsync(FsyncRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        if (h.InlineIo) HostIo.Fsync(r, h);
        else Offload(r, h);
    }

    protected override void Fallocate(FallocateRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        h.Changed = true;
        if (r.Offset > long.MaxValue || r.Length > long.MaxValue) { r.Fail(Errno.EFBIG); return; }
        if (h.InlineIo) HostIo.Fallocate(r, h);
        else Offload(r, h);
    }

    protected override void Lseek(LseekRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        if (r.Offset > long.MaxValue) { r.Fail(Errno.ENXIO); return; }
        if (h.InlineIo) HostIo.Lseek(r, h);
        else Offload(r, h);
    }

    protected override void CopyFileRange(CopyFileRangeRequest r)
    {
        if (Handle(r, r.FhIn) is not { } input) return;
        if (Handle(r, r.FhOut) is not { } output) return;
        if (r.OffsetIn > long.MaxValue || r.OffsetOut > long.MaxValue) { r.Fail(Errno.EINVAL); return; }
        output.Changed = true;
        if (input.InlineIo && output.InlineIo) HostIo.CopyFileRange(r, input, output);
        else Offload(r, input, output);
    }

    // ---------------------------------------------------------------- directories

    protected override void ReadDir(ReadDirRequest r)
    {
        if (Handle(r, r.Fh) is not { } h) return;
        if (h.Directory is not { } dir) { r.Fail(Errno.ENOTDIR); return; }
        var seek = dir.Seek(r.Offset);
        if (seek != Errno.Ok) { r.Fail(seek); return; }

        List<HostInode>? counted = null;
        while (true)
        {
            int rc = dir.Peek(out var e);
            if (rc < 0)
            {
                // An error after some entries: send those; the next READDIR meets the error again.
                if (r.Length == 0 && counted is null) { r.Fail((Errno)(-rc)); return; }
                break;
            }
            if (rc == 0) break;

            var name = dir.Name(in e); // the host's bytes, listed as they are
            uint typeMode = (uint)e.Type << 12;
            if (!r.IsPlus)
            {
                if (!r.TryAdd(name, e.Ino, typeMode, e.NextOffset)) break;
            }
            else if (IsDotOrDotDot(name))
            {
                // No entry data and no lookup for "." and ".." (the kernel skips them).
                if (!r.TryAddPlus(name, new Entry { Attr = new FuseAttr { Ino = e.Ino, Mode = typeMode } }, e.NextOffset)) break;
            }
            else
            {
                var err = LookupAt(dir.Fd, dir.NamePointer(in e), out var node, out var st);
                if (err != Errno.Ok)
                {
                    // Gone (or unreadable) since getdents: list the name without entry data.
                    if (!r.TryAddPlus(name, new Entry { Attr = new FuseAttr { Ino = e.Ino, Mode = typeMode } }, e.NextOffset)) break;
                }
                else if (!r.TryAddPlus(name, MakeEntry(node!, in st), e.NextOffset))
                {
                    _inodes.DropIfUnused(node!);
                    break;
                }
                else
                {
                    node!.LookupCount++; // each READDIRPLUS entry with a node id is a lookup
                    (counted ??= new List<HostInode>()).Add(node);
                }
            }
            dir.Advance(in e);
        }
        if (!r.Reply() && counted is not null)
        {
            // The engine answered first: the kernel never saw these entries, so take the lookups back.
            foreach (var n in counted) _inodes.Forget(n, 1);
        }
    }

    private static bool IsDotOrDotDot(ReadOnlySpan<byte> name) =>
        name.Length is 1 or 2 && name[0] == (byte)'.' && (name.Length == 1 || name[1] == (byte)'.');

    // ---------------------------------------------------------------- xattrs

    protected override void SetXAttr(SetXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeXattrName(r, r.Name, name)) return;
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);
        int flags = (int)(r.Flags & (XAttrFlags.Create | XAttrFlags.Replace));
        var value = r.Value;
        int rc;
        fixed (byte* pp = proc)
        fixed (byte* pn = name)
        fixed (byte* pv = value)
            rc = setxattr(pp, pn, pv, (nuint)value.Length, flags);
        if (rc < 0) { r.Fail(LastError()); return; }
        r.Reply();
    }

    protected override void GetXAttr(GetXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeXattrName(r, r.Name, name)) return;
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);
        nint len;
        fixed (byte* pp = proc)
        fixed (byte* pn = name)
        fixed (byte* pv = _xattrBuffer)
            len = getxattr(pp, pn, pv, XattrMax);
        if (len < 0)
        {
            var e = LastError();
            r.Fail(e == Errno.ERANGE ? Errno.E2BIG : e);
            return;
        }
        // The whole value: the engine answers the size-0 probe and ERANGE from it.
        r.Reply(_xattrBuffer.AsSpan(0, (int)len).ToArray());
    }

    protected override void ListXAttr(ListXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);
        nint len;
        fixed (byte* pp = proc)
        fixed (byte* pv = _xattrBuffer)
            len = listxattr(pp, pv, XattrMax);
        if (len < 0)
        {
            var e = LastError();
            r.Fail(e == Errno.ERANGE ? Errno.E2BIG : e);
            return;
        }
        // The host's list is already what the kernel carries: every name's bytes and a NUL.
        r.ReplyList(_xattrBuffer.AsSpan(0, (int)len).ToArray());
    }

    protected override void RemoveXAttr(RemoveXAttrRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        Span<byte> name = stackalloc byte[NameBufferSize];
        if (!EncodeXattrName(r, r.Name, name)) return;
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);
        int rc;
        fixed (byte* pp = proc)
        fixed (byte* pn = name)
            rc = removexattr(pp, pn);
        if (rc < 0) { r.Fail(LastError()); return; }
        r.Reply();
    }

    // ---------------------------------------------------------------- filesystem

    protected override void Access(AccessRequest r)
    {
        // Only sent without default_permissions. The daemon is root, so the host's own check (faccessat on the
        // magic link) is right for root callers; other callers get the classic owner/group/other check from the
        // mode (their supplementary groups are not known to FUSE).
        if (Node(r, r.NodeId) is not { } n) return;
        var err = StatNode(n, out var st);
        if (err != Errno.Ok) { r.Fail(err); return; }
        int mask = (int)(r.Mask & 7);
        if (r.Uid == 0)
        {
            Span<byte> proc = stackalloc byte[32];
            ProcPath(n.Fd, proc);
            int rc;
            fixed (byte* pp = proc) rc = faccessat(AT_FDCWD, pp, mask, 0);
            if (rc < 0) { r.Fail(LastError()); return; }
            r.Reply();
            return;
        }
        uint perms = r.Uid == st.Uid ? (uint)(st.Mode >> 6) & 7 : r.Gid == st.Gid ? (uint)(st.Mode >> 3) & 7 : (uint)st.Mode & 7;
        if ((perms & (uint)mask) != (uint)mask) { r.Fail(Errno.EACCES); return; }
        r.Reply();
    }

    protected override void StatFs(StatFsRequest r)
    {
        if (Node(r, r.NodeId) is not { } n) return;
        StatFsBuf s;
        if (fstatfs(n.Fd, &s) < 0) { r.Fail(LastError()); return; }
        r.Reply(new StatFs
        {
            Blocks = s.Blocks,
            BlocksFree = s.Bfree,
            BlocksAvailable = s.Bavail,
            Files = s.Files,
            FilesFree = s.Ffree,
            BlockSize = (uint)s.Bsize,
            NameLength = (uint)s.NameLen,
            FragmentSize = (uint)s.Frsize,
        });
    }

    /// <summary>Unmount: the kernel sends no FORGETs or RELEASEs for what it still holds, so close every handle
    /// and every node but the root.</summary>
    protected override void Destroy(DestroyRequest r)
    {
        foreach (var fh in _handles.All.ToArray()) CloseFile(r, fh);
        _inodes.ForgetAll();
        r.Reply();
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>The node, or null after answering ENOENT (unknown ids are the kernel's or our bug: log them).</summary>
    private HostInode? Node(FsRequest r, ulong id)
    {
        if (_inodes.Get(id) is { } n) return n;
        Log.Warning("{Opcode}: unknown node {Node}", r.Opcode, id);
        r.Fail(Errno.ENOENT);
        return null;
    }

    /// <summary>The open handle, or null after answering EBADF.</summary>
    private OpenHandle? Handle(FsRequest r, ulong fh)
    {
        if (_handles.Get(fh) is { } h) return h;
        Log.Warning("{Opcode}: unknown handle {Handle}", r.Opcode, fh);
        r.Fail(Errno.EBADF);
        return null;
    }

    /// <summary>Checks that <paramref name="name"/> is one path component inside its directory — not empty, not "."
    /// or "..", no '/' or NUL, at most 255 bytes — and writes it NUL-terminated into <paramref name="dst"/>.
    /// False after answering EINVAL or ENAMETOOLONG.</summary>
    private static bool EncodeName(FsRequest r, FileName name, Span<byte> dst)
    {
        var err = CheckName(name);
        if (err != Errno.Ok) { r.Fail(err); return false; }
        // The exact bytes: a host name that is not UTF-8 is reached under its own name, never a decoded one.
        name.Bytes.CopyTo(dst);
        dst[name.Length] = 0;
        return true;
    }

    internal static Errno CheckName(FileName name)
    {
        if (!name.IsValid || name.IsDotOrDotDot) return Errno.EINVAL;
        if (name.Length > MaxNameBytes) return Errno.ENAMETOOLONG;
        return Errno.Ok;
    }

    /// <summary>An xattr name (any bytes but NUL, at most 255), NUL-terminated. False after answering ERANGE.</summary>
    private static bool EncodeXattrName(FsRequest r, byte[] name, Span<byte> dst)
    {
        if (name.Length == 0 || name.AsSpan().IndexOf((byte)0) >= 0 || name.Length > MaxNameBytes) { r.Fail(Errno.ERANGE); return false; }
        name.CopyTo(dst);
        dst[name.Length] = 0;
        return true;
    }

    /// <summary>Looks <paramref name="name"/> up in the directory <paramref name="dirFd"/> without following a
    /// symlink, and returns its (possibly existing) node. Does not count a lookup.</summary>
    private Errno LookupAt(int dirFd, byte* name, out HostInode? node, out Statx st)
    {
        int fd = openat(dirFd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0)
        {
            node = null;
            st = default;
            return LastError();
        }
        return Adopt(fd, out node, out st);
    }

    /// <summary>Turns an O_PATH descriptor into a node (taking ownership of it).</summary>
    private Errno Adopt(int pathFd, out HostInode? node, out Statx st)
    {
        Statx s;
        if (statx(pathFd, EmptyPath, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &s) < 0)
        {
            var e = LastError();
            close(pathFd);
            node = null;
            st = default;
            return e;
        }
        st = s;
        if (AtBudget && !_inodes.Knows(in s))
        {
            // A new node past the budget: EMFILE for a LOOKUP, an entry without entry data in READDIRPLUS.
            close(pathFd);
            node = null;
            return Errno.EMFILE;
        }
        node = _inodes.GetOrAdd(pathFd, in s, out _);
        return Errno.Ok;
    }

    /// <summary>The node of an open descriptor's inode, found through its magic link rather than a name.</summary>
    private Errno ReopenAsPath(int fd, out HostInode? node, out Statx st)
    {
        Span<byte> proc = stackalloc byte[32];
        ProcPath(fd, proc);
        int pfd;
        fixed (byte* pp = proc) pfd = openat(AT_FDCWD, pp, O_PATH | O_CLOEXEC, 0);
        if (pfd < 0)
        {
            node = null;
            st = default;
            return LastError();
        }
        return Adopt(pfd, out node, out st);
    }

    /// <summary>After MKNOD/MKDIR/SYMLINK made <paramref name="name"/>: find its node, hand it to the caller, reply.</summary>
    private void FinishCreate(EntryRequest r, HostInode parent, byte* name, uint? perms)
    {
        var err = LookupAt(parent.Fd, name, out var node, out var st);
        if (err == Errno.Ok) err = ApplyOwnerAndMode(r, node!, ref st, perms, -1);
        if (err != Errno.Ok)
        {
            if (node is not null) _inodes.DropIfUnused(node);
            r.Fail(err);
            return;
        }
        ReplyEntry(r, node!, in st);
    }

    /// <summary>
    /// Makes a node the daemon (root) just created look as if the caller had created it: owned by the caller's uid
    /// (and gid, unless a set-group-id parent chose the group), with exactly the requested permission bits (the
    /// kernel already applied the caller's umask; the daemon's own umask must not apply twice), keeping the special
    /// bits the host gave it at creation (which root's chown would otherwise clear).
    /// </summary>
    private Errno ApplyOwnerAndMode(FsRequest r, HostInode node, ref Statx st, uint? perms, int openFd)
    {
        uint special = st.Mode & 0xE00u;
        bool changed = false;
        if (_chownToCaller)
        {
            uint uid = r.Uid != st.Uid ? r.Uid : uint.MaxValue;
            // A gid other than ours came from a set-group-id directory: keep it.
            uint gid = st.Gid == _daemonGid && r.Gid != st.Gid ? r.Gid : uint.MaxValue;
            if (uid != uint.MaxValue || gid != uint.MaxValue)
            {
                if (fchownat(node.Fd, EmptyPath, uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return LastError();
                changed = true;
            }
        }
        if (perms is { } p && !node.IsSymlink)
        {
            if (changed)
            {
                var e = StatNode(node, out st);
                if (e != Errno.Ok) return e;
            }
            uint want = special | (p & 0x1FF);
            if ((st.Mode & 0xFFFu) != want)
            {
                int rc;
                if (openFd >= 0) rc = fchmod(openFd, want);
                else
                {
                    Span<byte> proc = stackalloc byte[32];
                    ProcPath(node.Fd, proc);
                    fixed (byte* pp = proc) rc = fchmodat(AT_FDCWD, pp, want, 0);
                }
                if (rc < 0) return LastError();
                changed = true;
            }
        }
        return changed ? StatNode(node, out st) : Errno.Ok;
    }

    private void ReplyEntry(EntryRequest r, HostInode node, in Statx st)
    {
        // Count the lookup only if the reply is really ours to send.
        if (r.Reply(MakeEntry(node, in st))) node.LookupCount++;
        else _inodes.DropIfUnused(node);
    }

    private Entry MakeEntry(HostInode node, in Statx st) => new()
    {
        NodeId = node.NodeId,
        Generation = 0,
        Attr = ToAttr(in st),
        EntryTimeout = _options.EntryTimeout,
        AttrTimeout = _options.AttrTimeout,
    };

    /// <summary>Opens the node's inode for I/O through its magic link.</summary>
    private static int OpenNode(HostInode n, int flags)
    {
        Span<byte> proc = stackalloc byte[32];
        ProcPath(n.Fd, proc);
        fixed (byte* pp = proc) return openat(AT_FDCWD, pp, flags, 0);
    }

    /// <summary>open(2) flags for the host: the kernel's, minus what cannot or must not apply to a reopen
    /// (O_CREAT/O_EXCL/O_NOCTTY; O_NOFOLLOW, which would refuse the magic link), plus O_CLOEXEC. O_DIRECT is not
    /// opened with (a create would leave a file behind on a host that then refuses it); <see cref="ReopenDirect"/>
    /// adds it afterwards where the host takes it.
    /// Under the kernel's writeback cache a write-only open is opened read-write on the host, as libfuse's
    /// passthrough examples do: the kernel READs through the handle of whatever open writes to a page it has not
    /// cached whole (an append to a file's last page, a write into the middle of one), and a write-only host
    /// descriptor failed those READs with EBADF, and the write with them.
    /// Before Linux 6.9 (no RWF_NOAPPEND) the host descriptor also loses O_APPEND there, as in libfuse's examples: the
    /// kernel writes its pages back at their own offsets, and an O_APPEND descriptor would put each at the end.</summary>
    private static int HostOpenFlags(OpenFlags kernelFlags, bool writebackCache)
    {
        int flags = ((int)kernelFlags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW | O_DIRECT | O_PATH)) | O_CLOEXEC;
        if (writebackCache && (flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
        if (writebackCache && !HostIo.WritesAtOffsetOnAppend) flags &= ~O_APPEND;
        return flags;
    }

    /// <summary>Whether an open that <see cref="HostOpenFlags"/> made read-write failed only for the read (the host file
    /// is not readable by the daemon, or a host that refuses the extra access with EPERM): it is then opened
    /// write-only, as asked, and the kernel's READs through it fail as they would on any write-only descriptor.</summary>
    private static bool ReadableForWriteback(OpenFlags kernelFlags, int hostFlags, Errno error) =>
        error is Errno.EACCES or Errno.EPERM && ((int)kernelFlags & O_ACCMODE) == O_WRONLY && (hostFlags & O_ACCMODE) == O_RDWR;

    private static int WriteOnly(int hostFlags) => (hostFlags & ~O_ACCMODE) | O_WRONLY;

    private static bool IsDirect(OpenFlags flags) => ((int)flags & O_DIRECT) != 0;

    /// <summary>
    /// An open the caller made with O_DIRECT, served by the daemon: the inode <paramref name="n"/> is opened again
    /// (<see cref="OpenNode"/>) with the same access mode and O_APPEND plus O_DIRECT, so the host's page cache is
    /// bypassed as the caller asked. The buffered <paramref name="fd"/> stays as its twin
    /// (<see cref="OpenHandle.BufferedFd"/>) for what the host refuses with O_DIRECT. A host without O_DIRECT (ramfs)
    /// keeps the buffered descriptor alone, as before. Returns the descriptor for the handle.
    /// </summary>
    private static int ReopenDirect(HostInode n, int fd, int hostFlags, out int bufferedTwin)
    {
        bufferedTwin = -1;
        int direct = OpenNode(n, (hostFlags & (O_ACCMODE | O_APPEND)) | O_DIRECT | O_CLOEXEC);
        if (direct < 0) return fd;
        bufferedTwin = fd;
        return direct;
    }

    private static Errno StatNode(HostInode n, out Statx st)
    {
        Statx s;
        int rc = statx(n.Fd, EmptyPath, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &s);
        st = s;
        return rc < 0 ? LastError() : Errno.Ok;
    }

    private static Errno StatFd(int fd, out Statx st)
    {
        Statx s;
        int rc = statx(fd, EmptyPath, AT_EMPTY_PATH, STATX_BASIC_STATS, &s);
        st = s;
        return rc < 0 ? LastError() : Errno.Ok;
    }

    internal static FuseAttr ToAttr(in Statx st) => new()
    {
        Ino = st.Ino,
        Size = st.Size,
        Blocks = st.Blocks,
        Atime = (ulong)st.Atime.Sec,
        Mtime = (ulong)st.Mtime.Sec,
        Ctime = (ulong)st.Ctime.Sec,
        AtimeNsec = st.Atime.Nsec,
        MtimeNsec = st.Mtime.Nsec,
        CtimeNsec = st.Ctime.Nsec,
        Mode = st.Mode,
        Nlink = st.Nlink,
        Uid = st.Uid,
        Gid = st.Gid,
        Rdev = EncodeFuseDev(st.RdevMajor, st.RdevMinor),
        BlkSize = st.BlkSize,
    };

    // For tests (through TestActorRef).
    internal int NodeCount => _inodes.Count;
    internal int OpenHandleCount => _handles.Count;
    internal ulong LookupCountOf(ulong nodeId) => _inodes.Get(nodeId)?.LookupCount ?? 0;
    internal int DescriptorOf(ulong nodeId) => _inodes.Get(nodeId)?.Fd ?? -1;
    internal (int BackingId, int PassthroughOpens, int CachedOpens) IoModeOf(ulong nodeId) =>
        _inodes.Get(nodeId) is { } n ? (n.BackingId, n.PassthroughOpens, n.CachedOpens) : default;
}
