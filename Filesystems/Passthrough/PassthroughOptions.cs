namespace FuseActors.Filesystems.Passthrough;

/// <summary>Settings of a <see cref="PassthroughFs"/>.</summary>
public sealed record PassthroughOptions
{
    public static readonly PassthroughOptions Default = new();

    /// <summary>
    /// Hand opened files' reads and writes (and mmap) straight to the host file: OPEN and CREATE of a regular file
    /// reply FOPEN_PASSTHROUGH with a backing id from FUSE_DEV_IOC_BACKING_OPEN (Linux 6.9+, daemon with
    /// CAP_SYS_ADMIN), so READ and WRITE never reach the daemon. Takes effect only where the connection negotiated
    /// FUSE_PASSTHROUGH (<c>ConnectionSettings.Passthrough</c>); elsewhere, and for any open whose backing file the
    /// kernel refuses, reads and writes go through the daemon. False: always through the daemon.
    /// </summary>
    public bool KernelPassthrough { get; init; } = true;

    /// <summary>How long the kernel may trust a name → node mapping; null = the mount's default.</summary>
    public TimeSpan? EntryTimeout { get; init; }

    /// <summary>How long the kernel may trust attributes; null = the mount's default.</summary>
    public TimeSpan? AttrTimeout { get; init; }

    /// <summary>When the daemon runs as root: give files, directories, nodes and symlinks created through the
    /// mount to the caller (its uid, and its gid unless a set-group-id directory decided the group).</summary>
    public bool OwnerFromCaller { get; init; } = true;

    /// <summary>
    /// Threads of the filesystem's own I/O pool: reads that miss the host page cache, writes, flush, fsync, fallocate,
    /// lseek and copy_file_range on open files make their host call there, so one that hangs (a stalled network
    /// filesystem under SOURCE) does not hold up the rest of the mount; at most this many can hang before such
    /// requests queue. Started when first needed. Such a read or an O_DIRECT write of a local disk's file whose
    /// handler runs on a device reader that may take it (its own io_uring queue's; on /dev/fuse with several queues, all
    /// but one reader at a time) runs on that reader instead, after its mailbox runs (one at a time per reader; the
    /// rest still come here).
    /// 0: every host call on the actor (and with the inline dispatcher, on the device reader thread), as before the
    /// pool existed.
    /// </summary>
    public int IoThreads { get; init; } = 8;

    /// <summary>
    /// Whether the kernel keeps a file's cached pages and a directory's cached listing across opens (FOPEN_KEEP_CACHE,
    /// FOPEN_CACHE_DIR). <see cref="KernelCacheMode.Auto"/> (the default) keeps them when the host file or directory
    /// is unchanged since the last open, as libfuse's <c>auto_cache</c> does. See <see cref="KernelCacheMode"/>.
    /// </summary>
    public KernelCacheMode KeepKernelCache { get; init; } = KernelCacheMode.Auto;

    /// <summary>Akka dispatcher to run the actor on (e.g. one for blocking I/O); null = the default dispatcher.</summary>
    public string? Dispatcher { get; init; }
}

/// <summary>When PassthroughFs lets the kernel keep what it cached of a file or directory across opens.</summary>
public enum KernelCacheMode
{
    /// <summary>Never: each open starts with an empty cache, so a host-side change shows on the next open or listing.</summary>
    Off,
    /// <summary>
    /// When the host's mtime, ctime and size of the file or directory are what they were at its last open through the
    /// mount (close-to-open, as NFS and libfuse's auto_cache): a host-side change shows on the next open. Only on hosts
    /// whose timestamps tell every change apart (ext4, xfs, btrfs, tmpfs on Linux 6.13+, multigrain timestamps);
    /// elsewhere nothing is kept. After a write through the mount the next open starts afresh. The kernel also drops a
    /// file's pages whenever refreshed attributes show a new mtime or size (FUSE_AUTO_INVAL_DATA).
    /// </summary>
    Auto,
    /// <summary>Always, as libfuse's passthrough_hp does: only for a SOURCE that nothing but this mount changes (a change
    /// made on the host is seen only once the kernel refreshes the node's attributes and notices a new mtime or size).</summary>
    On,
}
