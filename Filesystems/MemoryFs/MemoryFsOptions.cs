using Akka.Configuration;

namespace FuseActors.Filesystems.MemoryFs;

/// <summary>Settings of a <see cref="MemoryFs"/>.</summary>
public sealed record MemoryFsOptions
{
    public static readonly MemoryFsOptions Default = new();

    /// <summary>Permission bits of the root directory (S_IFDIR is added).</summary>
    public uint RootMode { get; init; } = 0x1ED; // 0755
    /// <summary>Owner of the root directory; default: the user running the daemon (as tmpfs gives its root to the
    /// mounter), so a memfs mounted without root through fusermount3 is writable by the user who mounted it.</summary>
    public uint RootUid { get; init; } = Tmds.Linux.LibC.getuid();
    public uint RootGid { get; init; } = Tmds.Linux.LibC.getgid();

    /// <summary>Bytes the filesystem may hold, file data and metadata (inodes, names, symlink targets, xattrs) together;
    /// reported by STATFS, enforced with ENOSPC. Default: half of the physical memory, as tmpfs does, so callers meet
    /// ENOSPC before the daemon meets the OOM killer.</summary>
    public long CapacityBytes { get; init; } = DefaultCapacity;

    /// <summary>Half of the memory this process may use (physical memory, or the container's limit).</summary>
    public static long DefaultCapacity => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;

    /// <summary>Most inodes alive at once (root included); enforced with ENOSPC.</summary>
    public long MaxInodes { get; init; } = 1L << 24;

    /// <summary>A file whose data would grow past this many bytes moves its contents from the GC heap to a memfd
    /// (the kernel's page cache, outside the daemon's resident set); null keeps every file on the heap.</summary>
    public long? SpillToMemfdAboveBytes { get; init; } = 1L << 20;

    /// <summary>Lets the kernel keep what it cached of a file's pages and a directory's listing across opens
    /// (FOPEN_KEEP_CACHE, FOPEN_CACHE_DIR), as tmpfs serves them from its own cache. Safe because every change to a
    /// MemoryFs goes through this mount's kernel, which drops what a change makes stale (a write updates the page
    /// cache it went through, truncate/fallocate/copy_file_range drop the ranges they change, a new or removed name
    /// drops the directory's cached listing). Off: every open starts with an empty cache (each read and each
    /// listing reaches the daemon), as libfuse's memfs_ll does.</summary>
    public bool KeepKernelCache { get; init; } = true;

    /// <summary>Reads <c>fuseactors.memory-fs</c>: <c>size</c> as tmpfs spells it (<c>50%</c> of physical memory, or
    /// bytes with an optional k/m/g suffix) and <c>max-inodes</c>; missing keys keep their defaults.</summary>
    public static MemoryFsOptions FromConfig(Config root)
    {
        var d = new MemoryFsOptions();
        var c = root.GetConfig("fuseactors.memory-fs");
        if (c is null || c.IsEmpty) return d;
        return d with
        {
            CapacityBytes = c.HasPath("size") ? ParseSize(c.GetString("size")) : d.CapacityBytes,
            MaxInodes = c.GetLong("max-inodes", d.MaxInodes),
            KeepKernelCache = c.GetBoolean("keep-kernel-cache", d.KeepKernelCache),
        };
    }

    /// <summary>A tmpfs-style size: "50%" of physical memory, or "512m", "2g", "65536k", "1048576".</summary>
    public static long ParseSize(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        if (s.EndsWith('%') && double.TryParse(s[..^1], System.Globalization.CultureInfo.InvariantCulture, out var percent) && percent > 0 && percent <= 100)
            return (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * percent / 100);
        long unit = s.Length > 0 ? s[^1] switch { 'k' => 1L << 10, 'm' => 1L << 20, 'g' => 1L << 30, 't' => 1L << 40, _ => 1 } : 1;
        var digits = unit == 1 ? s : s[..^1];
        if (long.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n > 0 && n <= long.MaxValue / unit)
            return n * unit;
        throw new FormatException($"fuseactors.memory-fs.size: '{text}' is not a size (50%, 512m, 2g or a number of bytes)");
    }
}
