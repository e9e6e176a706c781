using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>What a filesystem declares it handles, so the engine negotiates only what is safe for it (libfuse's
/// <c>init</c> callback choosing <c>conn-&gt;want</c>).</summary>
[Flags]
public enum FilesystemCapabilities
{
    None = 0,

    /// <summary>OPEN and CREATE honour O_TRUNC themselves (FUSE_ATOMIC_O_TRUNC). Without
    /// it the kernel truncates through SETATTR (size 0) after the OPEN, so a filesystem that keeps the default
    /// <c>Open</c> never leaves an old tail behind. With it the kernel also leaves to the filesystem the removal of
    /// set-id bits that a truncate by a caller without CAP_FSETID makes (ModeBits.WithoutSetIdOnWrite; MemoryFs and
    /// PassthroughFs take any caller but root as lacking it).</summary>
    HandlesOpenTruncate = 1,

    /// <summary>POSIX record locks (fcntl F_GETLK/F_SETLK/F_SETLKW, lockf) are the filesystem's: it implements
    /// <c>GetLock</c> and <c>SetLock</c> (a <see cref="LockTable{TOwner}"/> per file helps) and releases an owner's locks on
    /// FLUSH (close). The engine negotiates FUSE_POSIX_LOCKS. Without it the kernel keeps these locks local to the
    /// machine and never asks.</summary>
    PosixLocks = 2,

    /// <summary>flock(2) locks are the filesystem's: they come as <c>SetLock</c> with <c>IsFlock</c> (whole-file locks
    /// whose owner is the open file), and are released on RELEASE with <see cref="ReleaseFlags.FlockUnlock"/>. The
    /// engine negotiates FUSE_FLOCK_LOCKS. Without it the kernel keeps flock locks local.</summary>
    FlockLocks = 4,

    /// <summary>A file the filesystem opens with FOPEN_DIRECT_IO may still be mapped shared: the kernel then caches its
    /// mapped pages and writes them back as WRITEs at their offsets, which the filesystem must place there. The engine
    /// negotiates FUSE_DIRECT_IO_ALLOW_MMAP. Without it a shared mmap of such an open fails with ENODEV.</summary>
    DirectIoMmap = 8,
}

/// <summary>
/// Sent to the filesystem once, when the kernel's INIT arrives and before it is answered: the filesystem answers
/// with <see cref="Reply"/> and what it handles. <see cref="FilesystemActor"/> answers it from
/// <c>FilesystemActor.Capabilities</c>; any other answer (an errno, or none within the request timeout) means
/// <see cref="FilesystemCapabilities.None"/>.
/// </summary>
public sealed class FilesystemInitRequest : FsRequest
{
    public override Opcode Opcode => Opcode.Init;

    /// <summary>The kernel's protocol minor (e.g. 45).</summary>
    public uint KernelMinor { get; internal set; }

    /// <summary>What the kernel offered.</summary>
    public InitFlags KernelFlags { get; internal set; }

    internal FilesystemCapabilities Capabilities { get; private set; }

    /// <summary>The connection's notifier: how this filesystem tells the kernel to drop what it cached
    /// (<see cref="FilesystemActor"/> keeps it for its <c>Notify...</c> methods). It accepts notifications once INIT has
    /// been answered, until the connection ends.</summary>
    public KernelNotifier? Notifier { get; internal set; }

    public bool Reply(FilesystemCapabilities capabilities)
    {
        Capabilities = capabilities;
        return Complete();
    }
}
