using FuseActors.Filesystems.Interop;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>One open file or directory: the host descriptor the kernel's fh stands for.</summary>
internal sealed class OpenHandle(int fd, HostInode inode, DirectoryStream? directory, bool passthrough, int bufferedTwin)
{
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
}

/// <summary>
/// fh → host descriptor. The kernel's fh is our own counter, not the raw fd, so a stale or forged fh can never
/// reach a descriptor it was not given (another node's O_PATH fd, or /dev/fuse). Not thread-safe: it belongs to one
/// actor (a later pool of I/O workers would share a concurrent version of it).
/// </summary>
internal sealed class OpenHandles : IDisposable
{
    private readonly Dictionary<ulong, OpenHandle> _handles = new();
    private ulong _next = 1;

    public int Count => _handles.Count;

    public ulong Add(int fd, HostInode inode, DirectoryStream? directory = null, bool passthrough = false, int bufferedTwin = -1)
    {
        ulong fh = _next++;
        _handles.Add(fh, new OpenHandle(fd, inode, directory, passthrough, bufferedTwin));
        return fh;
    }

    public OpenHandle? Get(ulong fh) => _handles.GetValueOrDefault(fh);

    public IEnumerable<ulong> All => _handles.Keys;

    /// <summary>Removes and closes a handle. False if it was unknown.</summary>
    public bool Close(ulong fh)
    {
        if (!_handles.Remove(fh, out var h)) return false;
        if (h.Directory is { } d) d.Dispose();
        else Native.close(h.Fd);
        if (h.BufferedFd >= 0) Native.close(h.BufferedFd);
        return true;
    }

    public void Dispose()
    {
        foreach (var fh in _handles.Keys.ToArray()) Close(fh);
    }
}
