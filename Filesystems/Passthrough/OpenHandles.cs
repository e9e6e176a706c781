using FuseActors.Filesystems.Interop;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// One open file or directory: the host descriptor the kernel's fh stands for.
/// Its descriptors are reference-counted: the handle table holds one reference, and every host call running off the
/// actor (<see cref="HostIoPool"/>) holds one more for as long as it runs. RELEASE takes the handle out of the table
/// at once (further requests get EBADF), but the descriptors are closed by whoever drops the last reference — the
/// actor, or an I/O thread finishing a call the engine already answered (request timeout, interrupt), after which the
/// kernel may well have sent RELEASE. So a descriptor number is never closed, and reused by another open, under a
/// running pread/pwrite.
/// </summary>
internal sealed class OpenHandle(int fd, HostInode inode, DirectoryStream? directory, bool passthrough, int bufferedTwin, bool inlineIo, bool localDevice = false, bool inMemory = false)
{
    // The table's reference, plus one per host call in flight on an I/O thread.
    private int _references = 1;

    /// <summary>A readable/writable descriptor (files) or the directory stream's descriptor (directories).</summary>
    public int Fd { get; } = fd;
    public HostInode Inode { get; } = inode;
    public DirectoryStream? Directory { get; } = directory;
    /// <summary>The kernel does this open's reads and writes itself, on <see cref="HostInode.BackingId"/>.</summary>
    public bool Passthrough { get; } = passthrough;
    /// <summary>For a handle whose <see cref="Fd"/> is O_DIRECT (the caller opened with it), a descriptor of the same
    /// file without O_DIRECT: what the host refuses with O_DIRECT (an unaligned offset or length, such as the kernel's
    /// writeback of a file's last partial page through this handle) goes through it instead of failing. -1 otherwise.</summary>
    public int BufferedFd { get; } = bufferedTwin;
    /// <summary><see cref="Fd"/> is O_DIRECT: its I/O goes through an aligned buffer.</summary>
    public bool Direct => BufferedFd >= 0;
    /// <summary>The host file's data lives in memory (tmpfs, ramfs): its calls never wait for a device or a server,
    /// so they run on the actor's thread even with an I/O pool (a hop to a pool thread would cost more than the call).</summary>
    public bool InlineIo { get; } = inlineIo;
    /// <summary>The host file is on a local block-device filesystem (ext4, xfs, btrfs, f2fs): a buffered write is a copy
    /// into its page cache and FLUSH a close(dup) that does nothing more, so both run on the actor's thread (see
    /// <c>PassthroughFs.Write</c> for what this trades).</summary>
    public bool LocalDevice { get; } = localDevice;
    /// <summary>The host file's data lives in memory (tmpfs, ramfs), whichever thread its calls run on: a read of it
    /// never waits for a device or a server.</summary>
    public bool InMemory { get; } = inMemory;

    /// <summary>A WRITE, FALLOCATE or COPY_FILE_RANGE changed the host file through this handle (the actor sets it):
    /// its release records the file's new mtime and size as the kernel's own (<see cref="HostInode.CacheStamp"/>).</summary>
    public bool Changed { get; set; }
    /// <summary>The host answered EOPNOTSUPP to a <c>preadv2(RWF_NOWAIT)</c> on <see cref="Fd"/>: do not try again
    /// (every read goes to the I/O pool). Read and written by the actor only.</summary>
    public bool NoWaitUnsupported { get; set; }
    /// <summary>The host refused cachestat(2) on <see cref="Fd"/> (EPERM: since Linux 6.14 a daemon that is not root
    /// may only ask of files it could write): do not ask again; its READs are copied. Read and written by the actor only.</summary>
    public bool CachestatRefused { get; set; }

    /// <summary>True once the last reference went and the descriptors are closed.</summary>
    public bool IsClosed => Volatile.Read(ref _references) == 0;

    /// <summary>One more user of the descriptors (the actor, for a call it hands to an I/O thread). Only called while
    /// the handle is in the table, so the count is at least 1 and the descriptors are open.</summary>
    public void Acquire() => Interlocked.Increment(ref _references);

    /// <summary>Drops a reference (the table's on RELEASE, or a finished call's); the last one closes the descriptors,
    /// on whichever thread that is.</summary>
    public void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left > 0) return;
        if (left < 0) throw new InvalidOperationException("open handle released more often than acquired");
        if (Directory is { } d) d.Dispose();
        else Native.close(Fd);
        if (BufferedFd >= 0) Native.close(BufferedFd);
    }
}

/// <summary>
/// fh → host descriptor. The kernel's fh is our own counter, not the raw fd, so a stale or forged fh can never
/// reach a descriptor it was not given (another node's O_PATH fd, or /dev/fuse). Not thread-safe: it belongs to one
/// actor; I/O threads get an <see cref="OpenHandle"/> itself, with a reference held for them.
/// </summary>
internal sealed class OpenHandles : IDisposable
{
    private readonly Dictionary<ulong, OpenHandle> _handles = new();
    private ulong _next = 1;

    public int Count => _handles.Count;

    public ulong Add(int fd, HostInode inode, DirectoryStream? directory = null, bool passthrough = false, int bufferedTwin = -1,
        bool inlineIo = false, bool localDevice = false, bool inMemory = false)
    {
        ulong fh = _next++;
        _handles.Add(fh, new OpenHandle(fd, inode, directory, passthrough, bufferedTwin, inlineIo, localDevice, inMemory));
        return fh;
    }

    /// <summary>The handle, or null, without counting as a use (see <see cref="Get"/>).</summary>
    public OpenHandle? Peek(ulong fh) => _handles.GetValueOrDefault(fh);

    /// <summary>The handle, or null; a lookup is a use of the handle (<see cref="HostInode.HandleUsed"/>).</summary>
    public OpenHandle? Get(ulong fh)
    {
        if (!_handles.TryGetValue(fh, out var h)) return null;
        h.Inode.HandleUsed(fh);
        return h;
    }

    public IEnumerable<ulong> All => _handles.Keys;

    /// <summary>Removes a handle and drops the table's reference: its descriptors are closed now, or by the last host
    /// call still using them. False if it was unknown.</summary>
    public bool Close(ulong fh)
    {
        if (!_handles.Remove(fh, out var h)) return false;
        h.Release();
        return true;
    }

    public void Dispose()
    {
        foreach (var fh in _handles.Keys.ToArray()) Close(fh);
    }
}
