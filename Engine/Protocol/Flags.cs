namespace FuseActors.Engine.Protocol;

// Typed flag sets of the requests and replies. Values from linux/fuse.h (protocol 7.45) and, for open(2) and
// fallocate(2), from the Linux UAPI headers.

/// <summary>
/// open(2) flags as the kernel forwards them in OPEN, CREATE, READ, WRITE and RELEASE. Only the values identical on
/// x86-64 and arm64 are members. O_DIRECT, O_DIRECTORY and O_NOFOLLOW differ between the two (asm-generic vs
/// arm64's own fcntl.h), so they are not: use <see cref="OpenFlagsExtensions.Direct"/> for O_DIRECT.
/// The access mode is a 2-bit field, not a flag: compare <c>flags &amp; AccessModeMask</c> with
/// <see cref="ReadOnly"/>, <see cref="WriteOnly"/> or <see cref="ReadWrite"/> (see <see cref="OpenFlagsExtensions.AccessMode"/>).
/// </summary>
[Flags]
public enum OpenFlags : uint
{
    /// <summary>O_RDONLY (an access mode: 0, so never test it with HasFlag).</summary>
    ReadOnly = 0,
    /// <summary>O_WRONLY.</summary>
    WriteOnly = 1,
    /// <summary>O_RDWR.</summary>
    ReadWrite = 2,
    /// <summary>O_ACCMODE: the bits of the access mode.</summary>
    AccessModeMask = 3,
    /// <summary>O_CREAT.</summary>
    Create = 0x40,
    /// <summary>O_EXCL.</summary>
    Exclusive = 0x80,
    /// <summary>O_NOCTTY.</summary>
    NoCtty = 0x100,
    /// <summary>O_TRUNC. Forwarded in OPEN only when FUSE_ATOMIC_O_TRUNC was negotiated; otherwise the kernel sends a SETATTR(size 0).</summary>
    Truncate = 0x200,
    /// <summary>O_APPEND.</summary>
    Append = 0x400,
    /// <summary>O_NONBLOCK.</summary>
    NonBlock = 0x800,
    /// <summary>O_DSYNC.</summary>
    DSync = 0x1000,
    /// <summary>O_SYNC (includes the O_DSYNC bit).</summary>
    Sync = 0x101000,
    /// <summary>O_NOATIME.</summary>
    NoAtime = 0x40000,
    /// <summary>O_CLOEXEC.</summary>
    CloseOnExec = 0x80000,
}

/// <summary>Helpers for the parts of <see cref="OpenFlags"/> that are not plain bits.</summary>
public static class OpenFlagsExtensions
{
    /// <summary>O_DIRECT on the machine this runs on (0x4000 on x86-64, 0x10000 on arm64).</summary>
    public static OpenFlags Direct { get; } =
        System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64
            ? (OpenFlags)0x10000 : (OpenFlags)0x4000;

    /// <summary>The access mode: <see cref="OpenFlags.ReadOnly"/>, <see cref="OpenFlags.WriteOnly"/> or <see cref="OpenFlags.ReadWrite"/>.</summary>
    public static OpenFlags AccessMode(this OpenFlags f) => f & OpenFlags.AccessModeMask;

    /// <summary>True when the access mode allows writing (O_WRONLY or O_RDWR).</summary>
    public static bool CanWrite(this OpenFlags f) => (f & OpenFlags.AccessModeMask) is OpenFlags.WriteOnly or OpenFlags.ReadWrite;
}

/// <summary>fuse_open_in.open_flags (FUSE_OPEN_*): what the kernel asks of an OPEN or CREATE beyond open(2).</summary>
[Flags]
public enum KernelOpenFlags : uint
{
    None = 0,
    /// <summary>FUSE_OPEN_KILL_SUIDGID: clear suid/sgid (with HANDLE_KILLPRIV_V2, on O_TRUNC or CREATE).</summary>
    KillSuidGid = 1 << 0,
}

/// <summary>fuse_open_out.open_flags (FOPEN_*): how the kernel should treat an open file.</summary>
[Flags]
public enum FopenFlags : uint
{
    None = 0,
    /// <summary>FOPEN_DIRECT_IO: bypass the page cache for this open.</summary>
    DirectIo = 1 << 0,
    /// <summary>FOPEN_KEEP_CACHE: do not invalidate the cached data on open.</summary>
    KeepCache = 1 << 1,
    /// <summary>FOPEN_NONSEEKABLE: the file is not seekable.</summary>
    NonSeekable = 1 << 2,
    /// <summary>FOPEN_CACHE_DIR: allow caching this directory's listing.</summary>
    CacheDir = 1 << 3,
    /// <summary>FOPEN_STREAM: a stream (no file position).</summary>
    Stream = 1 << 4,
    /// <summary>FOPEN_NOFLUSH: do not send FLUSH on close.</summary>
    NoFlush = 1 << 5,
    /// <summary>FOPEN_PARALLEL_DIRECT_WRITES: direct writes to this file may run in parallel.</summary>
    ParallelDirectWrites = 1 << 6,
    /// <summary>FOPEN_PASSTHROUGH: the kernel does the I/O on the backing file given with the reply.</summary>
    Passthrough = 1 << 7,
}

/// <summary>fuse_setattr_in.valid (FATTR_*): which fields of a SETATTR are set.</summary>
[Flags]
public enum SetAttrValid : uint
{
    None = 0,
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    Atime = 1 << 4,
    Mtime = 1 << 5,
    /// <summary>FATTR_FH: the request came through an open file (ftruncate, futimens).</summary>
    Fh = 1 << 6,
    /// <summary>FATTR_ATIME_NOW: set atime to the current time (with <see cref="Atime"/>).</summary>
    AtimeNow = 1 << 7,
    /// <summary>FATTR_MTIME_NOW: set mtime to the current time (with <see cref="Mtime"/>).</summary>
    MtimeNow = 1 << 8,
    LockOwner = 1 << 9,
    Ctime = 1 << 10,
    KillSuidGid = 1 << 11,
}

/// <summary>renameat2(2) flags of RENAME2.</summary>
[Flags]
public enum RenameFlags : uint
{
    None = 0,
    /// <summary>RENAME_NOREPLACE: fail with EEXIST if the target exists.</summary>
    NoReplace = 1,
    /// <summary>RENAME_EXCHANGE: swap source and target atomically.</summary>
    Exchange = 2,
    /// <summary>RENAME_WHITEOUT: leave a whiteout at the source (overlayfs).</summary>
    Whiteout = 4,
}

/// <summary>fuse_getattr_in.getattr_flags.</summary>
[Flags]
public enum GetAttrFlags : uint
{
    None = 0,
    /// <summary>FUSE_GETATTR_FH: fuse_getattr_in.fh is valid (fstat).</summary>
    Fh = 1 << 0,
}

/// <summary>fuse_fsync_in.fsync_flags.</summary>
[Flags]
public enum FsyncFlags : uint
{
    None = 0,
    /// <summary>FUSE_FSYNC_FDATASYNC: only the data needs to reach storage (fdatasync).</summary>
    DataSync = 1 << 0,
}

/// <summary>fuse_release_in.release_flags.</summary>
[Flags]
public enum ReleaseFlags : uint
{
    None = 0,
    /// <summary>FUSE_RELEASE_FLUSH: flush before releasing.</summary>
    Flush = 1 << 0,
    /// <summary>FUSE_RELEASE_FLOCK_UNLOCK: drop the flock locks of this open.</summary>
    FlockUnlock = 1 << 1,
}

/// <summary>fuse_write_in.write_flags.</summary>
[Flags]
public enum WriteFlags : uint
{
    None = 0,
    /// <summary>FUSE_WRITE_CACHE: a delayed write from the page cache (writeback), not a caller's write.</summary>
    Cache = 1 << 0,
    /// <summary>FUSE_WRITE_LOCKOWNER: lock_owner is valid.</summary>
    LockOwner = 1 << 1,
    /// <summary>FUSE_WRITE_KILL_SUIDGID: clear suid/sgid.</summary>
    KillSuidGid = 1 << 2,
}

/// <summary>fuse_read_in.read_flags.</summary>
[Flags]
public enum ReadFlags : uint
{
    None = 0,
    /// <summary>FUSE_READ_LOCKOWNER: lock_owner is valid.</summary>
    LockOwner = 1 << 1,
}

/// <summary>setxattr(2) flags.</summary>
[Flags]
public enum XAttrFlags : uint
{
    None = 0,
    /// <summary>XATTR_CREATE: fail with EEXIST if the attribute exists.</summary>
    Create = 1,
    /// <summary>XATTR_REPLACE: fail with ENODATA if the attribute does not exist.</summary>
    Replace = 2,
}

/// <summary>fallocate(2) mode (FALLOC_FL_*); 0 allocates and may extend the file.</summary>
[Flags]
public enum FallocateFlags : uint
{
    None = 0,
    KeepSize = 0x01,
    PunchHole = 0x02,
    CollapseRange = 0x08,
    ZeroRange = 0x10,
    InsertRange = 0x20,
    UnshareRange = 0x40,
}
