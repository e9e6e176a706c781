namespace FuseActors.Filesystems.MemoryFs;

/// <summary>Settings of a <see cref="MemoryFs"/>.</summary>
public sealed record MemoryFsOptions
{
    public static readonly MemoryFsOptions Default = new();

    /// <summary>Permission bits of the root directory (S_IFDIR is added).</summary>
    public uint RootMode { get; init; } = 0x1ED; // 0755
    public uint RootUid { get; init; }
    public uint RootGid { get; init; }

    /// <summary>Bytes of file data the filesystem may hold; reported by STATFS, enforced with ENOSPC.</summary>
    public long CapacityBytes { get; init; } = 64L << 30;

    /// <summary>Most inodes alive at once (root included); enforced with ENOSPC.</summary>
    public long MaxInodes { get; init; } = 1L << 24;

    /// <summary>A file whose data would grow past this many bytes moves its contents from the GC heap to a memfd
    /// (the kernel's page cache, outside the daemon's resident set); null keeps every file on the heap.</summary>
    public long? SpillToMemfdAboveBytes { get; init; } = 1L << 20;
}
