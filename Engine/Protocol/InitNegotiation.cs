namespace FuseActors.Engine.Protocol;

/// <summary>What a connection is configured to ask for at INIT (built by the engine from its settings and the filesystem).</summary>
public sealed record InitPolicy
{
    /// <summary>Ask for READDIRPLUS (with the kernel's adaptive READDIRPLUS_AUTO).</summary>
    public bool ReadDirPlus { get; init; }
    /// <summary>Ask for the kernel's writeback cache (excluded by <see cref="Passthrough"/>).</summary>
    public bool WritebackCache { get; init; }
    /// <summary>Ask for kernel passthrough (FUSE_PASSTHROUGH).</summary>
    public bool Passthrough { get; init; }
    /// <summary>Ask for FUSE over io_uring (FUSE_OVER_IO_URING): only when the daemon has io_uring queues ready to register.</summary>
    public bool OverIoUring { get; init; }
    /// <summary>The filesystem honours O_TRUNC in OPEN: ask for FUSE_ATOMIC_O_TRUNC. Without it the kernel
    /// truncates with a SETATTR(size 0) before the OPEN.</summary>
    public bool HandlesOpenTruncate { get; init; }
    /// <summary>The filesystem implements POSIX record locks (GETLK/SETLK/SETLKW): ask for FUSE_POSIX_LOCKS. Without it
    /// the kernel keeps fcntl locks local to this machine.</summary>
    public bool PosixLocks { get; init; }
    /// <summary>The filesystem implements flock(2) (SETLK/SETLKW with FUSE_LK_FLOCK): ask for FUSE_FLOCK_LOCKS. Without
    /// it the kernel keeps flock locks local.</summary>
    public bool FlockLocks { get; init; }
    /// <summary>The filesystem's FOPEN_DIRECT_IO opens may be mapped shared (their page-cache WRITEs land at their
    /// offsets): ask for FUSE_DIRECT_IO_ALLOW_MMAP. Without it the kernel refuses such a mapping (ENODEV).</summary>
    public bool DirectIoAllowMmap { get; init; }
    /// <summary>Largest WRITE payload; clamped to 4 KiB .. 1 MiB.</summary>
    public uint MaxWrite { get; init; } = 1 << 20;
    /// <summary>Readahead cap; the reply takes the smaller of this and the kernel's offer.</summary>
    public uint MaxReadahead { get; init; } = 1 << 20;
    public ushort MaxBackground { get; init; } = 64;
    public ushort CongestionThreshold { get; init; } = 48;
}

/// <summary>Chooses the INIT reply from what the kernel offers and what the connection is configured for.</summary>
public static class InitNegotiation
{
    /// <summary>Flags this engine asks for whenever the kernel offers them (fuse-protocol.md §3.2, "recommend on").
    /// FUSE_ATOMIC_O_TRUNC is not among them: it depends on the filesystem (<see cref="InitPolicy.HandlesOpenTruncate"/>).</summary>
    public const InitFlags Wanted =
        InitFlags.AsyncRead | InitFlags.BigWrites | InitFlags.AutoInvalData |
        InitFlags.AsyncDio | InitFlags.ParallelDirOps | InitFlags.AbortError | InitFlags.MaxPages |
        InitFlags.CacheSymlinks | InitFlags.SetXAttrExt | InitFlags.InitExt | InitFlags.HasIoctlDir;

    public static FuseInitOut Negotiate(in InitArgs init, InitPolicy policy)
    {
        var want = Wanted;
        if (policy.HandlesOpenTruncate) want |= InitFlags.AtomicOTrunc;
        if (policy.PosixLocks) want |= InitFlags.PosixLocks;
        if (policy.FlockLocks) want |= InitFlags.FlockLocks;
        if (policy.ReadDirPlus) want |= InitFlags.DoReadDirPlus | InitFlags.ReadDirPlusAuto;
        if (policy.WritebackCache) want |= InitFlags.WritebackCache;
        if (policy.DirectIoAllowMmap) want |= InitFlags.DirectIoAllowMmap;
        // Kernel passthrough and the writeback cache exclude each other; passthrough wins when both are asked for.
        if (policy.Passthrough) want = (want | InitFlags.Passthrough) & ~InitFlags.WritebackCache;
        if (policy.OverIoUring) want |= InitFlags.OverIoUring;
        // Only set bits the kernel offered.
        var flags = want & init.Flags;
        uint maxWrite = Math.Clamp(policy.MaxWrite, 4096, 1u << 20);
        return new FuseInitOut
        {
            Major = FuseConstants.KernelVersion,
            Minor = FuseConstants.KernelMinorVersion,
            MaxReadahead = Math.Min(policy.MaxReadahead, init.MaxReadahead),
            Flags = (uint)((ulong)flags & 0xFFFF_FFFF),
            Flags2 = (uint)((ulong)flags >> 32),
            MaxBackground = policy.MaxBackground,
            CongestionThreshold = policy.CongestionThreshold,
            MaxWrite = maxWrite,
            TimeGran = 1,
            // In the kernel's pages, which are 16 or 64 KiB on some arm64 kernels: max_pages * PAGE_SIZE is what an
            // io_uring entry's buffer must hold.
            MaxPages = (ushort)((flags & InitFlags.MaxPages) != 0 ? (maxWrite + Environment.SystemPageSize - 1) / Environment.SystemPageSize : 0),
            // Our stacking depth with passthrough: backing files must be on a filesystem below it (depth 0; a file
            // on overlayfs is refused with ELOOP and its opens take the plain path), and the mount itself can still
            // be a layer of an overlayfs (the kernel allows a stack of 2).
            MaxStackDepth = (flags & InitFlags.Passthrough) != 0 ? 1u : 0u,
        };
    }
}
