namespace FuseActors.Filesystems.Passthrough;

/// <summary>Settings of a <see cref="PassthroughFs"/>.</summary>
public sealed record PassthroughOptions
{
    public static readonly PassthroughOptions Default = new();

    /// <summary>
    /// Hand opened files' reads and writes straight to the host file (FOPEN_PASSTHROUGH with a backing id from
    /// FUSE_DEV_IOC_BACKING_OPEN, Linux 6.9+), where the kernel offers it.
    /// TODO(lead): not implemented yet. It needs the connection to negotiate FUSE_PASSTHROUGH (and max_stack_depth)
    /// in INIT and to expose BACKING_OPEN/BACKING_CLOSE on the device to filesystems; OPEN/CREATE would then reply
    /// with <c>FuseConstants.FopenPassthrough</c> and the backing id, and RELEASE would close the backing id.
    /// Until then this flag is ignored and every read and write goes through the daemon.
    /// </summary>
    public bool KernelPassthrough { get; init; } = true;

    /// <summary>How long the kernel may trust a name → node mapping; null = the mount's default.</summary>
    public TimeSpan? EntryTimeout { get; init; }

    /// <summary>How long the kernel may trust attributes; null = the mount's default.</summary>
    public TimeSpan? AttrTimeout { get; init; }

    /// <summary>When the daemon runs as root: give files, directories, nodes and symlinks created through the
    /// mount to the caller (its uid, and its gid unless a set-group-id directory decided the group).</summary>
    public bool OwnerFromCaller { get; init; } = true;

    /// <summary>Akka dispatcher to run the actor on (e.g. one for blocking I/O); null = the default dispatcher.</summary>
    public string? Dispatcher { get; init; }
}
