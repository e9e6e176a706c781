using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Interop;

/// <summary>
/// The libc calls the filesystems make (PassthroughFs on host files, MemoryFs on memfds), declared here
/// (source-generated, blittable, <c>SetLastError</c>) so that every failing call's errno is read the same way:
/// <see cref="LastError"/> right after the call. Only 64-bit Linux is supported (struct layouts below);
/// <c>PassthroughFs.Props</c> refuses anything else.
/// Pointers are used for paths: names are encoded once into NUL-terminated UTF-8 on the stack.
/// </summary>
internal static unsafe partial class Native
{
    private const string Libc = "libc";

    private static readonly bool IsArm = RuntimeInformation.ProcessArchitecture is Architecture.Arm64;

    // open(2) flags. The ones that differ between x86-64 and arm64 are computed.
    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int O_ACCMODE = 3;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;
    public const int O_TRUNC = 0x200;
    public const int O_APPEND = 0x400;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;
    public static readonly int O_DIRECTORY = IsArm ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = IsArm ? 0x8000 : 0x20000;
    public static readonly int O_DIRECT = IsArm ? 0x10000 : 0x4000;

    public const int AT_FDCWD = -100;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int AT_SYMLINK_FOLLOW = 0x400;
    public const int AT_EMPTY_PATH = 0x1000;

    public const uint STATX_BASIC_STATS = 0x7FF;
    public const uint STATX_MTIME = 0x40;
    public const uint STATX_CTIME = 0x80;
    public const uint STATX_SIZE = 0x200;

    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;

    public const int SEEK_SET = 0;

    /// <summary>preadv2 flag: fail with EAGAIN rather than wait for I/O (or for a lock); EOPNOTSUPP where the file does not support it.</summary>
    public const int RWF_NOWAIT = 0x8;
    /// <summary>pwritev2 flag (Linux 6.9+): write at the offset given even on an O_APPEND descriptor; EOPNOTSUPP before.</summary>
    public const int RWF_NOAPPEND = 0x20;

    // statfs f_type of the filesystems whose file data lives in memory: their I/O never waits for a device or a server.
    public const long TMPFS_MAGIC = 0x01021994;
    public const long RAMFS_MAGIC = unchecked((long)0x858458f6);
    // statfs f_type of the local block-device filesystems: their calls wait at most for a local device, never a server.
    public const long EXT4_SUPER_MAGIC = 0xEF53; // also ext2 and ext3
    public const long XFS_SUPER_MAGIC = 0x58465342;
    public const long BTRFS_SUPER_MAGIC = unchecked((long)0x9123683E);
    public const long F2FS_SUPER_MAGIC = unchecked((long)0xF2F52010);

    public const uint S_IFMT = 0xF000;
    public const uint S_ISUID = 0x800;
    public const uint S_ISGID = 0x400;
    public const uint S_IXGRP = 0x8;

    /// <summary>The errno of the last failing call declared here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Errno LastError()
    {
        int e = Marshal.GetLastPInvokeError();
        return e == 0 ? Errno.EIO : (Errno)e;
    }

    [LibraryImport(Libc)] public static partial uint geteuid();
    [LibraryImport(Libc)] public static partial uint getegid();
    [LibraryImport(Libc, SetLastError = true)] public static partial int openat(int dirfd, byte* path, int flags, uint mode);
    [LibraryImport(Libc, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(Libc, SetLastError = true)] public static partial int memfd_create(byte* name, uint flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int dup(int fd);
    [LibraryImport(Libc, SetLastError = true)] public static partial int statx(int dirfd, byte* path, int flags, uint mask, Statx* buf);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fstatfs(int fd, StatFsBuf* buf);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fchmod(int fd, uint mode);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fchownat(int dirfd, byte* path, uint uid, uint gid, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int ftruncate(int fd, long length);
    [LibraryImport(Libc, SetLastError = true)] public static partial int futimens(int fd, Timespec* times);
    [LibraryImport(Libc, SetLastError = true)] public static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);
    [LibraryImport(Libc, SetLastError = true)] public static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);
    [LibraryImport(Libc, SetLastError = true)] public static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);
    [LibraryImport(Libc, SetLastError = true)] public static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport(Libc, SetLastError = true)] public static partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int getrlimit(int resource, RLimit* limit);
    public const int RLIMIT_NOFILE = 7; // the same on x86-64 and arm64
    [LibraryImport(Libc, SetLastError = true)] public static partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial int faccessat(int dirfd, byte* path, int mode, int flags);
    [LibraryImport(Libc, EntryPoint = "pread64", SetLastError = true)] public static partial nint pread(int fd, byte* buf, nuint count, long offset);
    /// <summary>preadv2(2); with <see cref="RWF_NOWAIT"/> it reads only what the page cache holds, never waiting for I/O.</summary>
    [LibraryImport(Libc, EntryPoint = "preadv2", SetLastError = true)] public static partial nint preadv2(int fd, Iovec* iov, int iovcnt, long offset, int flags);
    /// <summary>cachestat(2) (Linux 6.5+): how many pages of a range of a file are in the page cache, without reading
    /// or waiting for any; ENOSYS on an older kernel.</summary>
    public static int cachestat(int fd, CachestatRange* range, Cachestat* stat) => (int)syscall(SysCachestat, fd, (long)range, (long)stat, 0);
    private const long SysCachestat = 451; // x86_64 and aarch64 alike (the unified numbers)
    [LibraryImport(Libc, SetLastError = true)] private static partial long syscall(long number, long a1, long a2, long a3, long a4);
    [LibraryImport(Libc, EntryPoint = "pwrite64", SetLastError = true)] public static partial nint pwrite(int fd, byte* buf, nuint count, long offset);
    [LibraryImport(Libc, EntryPoint = "pwritev2", SetLastError = true)] public static partial nint pwritev2(int fd, Iovec* iov, int iovcnt, long offset, int flags);
    [LibraryImport(Libc, EntryPoint = "lseek64", SetLastError = true)] public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fsync(int fd);
    [LibraryImport(Libc, SetLastError = true)] public static partial int fdatasync(int fd);
    [LibraryImport(Libc, EntryPoint = "fallocate64", SetLastError = true)] public static partial int fallocate(int fd, int mode, long offset, long length);
    [LibraryImport(Libc, SetLastError = true)] public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint length, uint flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial nint getdents64(int fd, byte* buf, nuint count);
    // Path-based xattr calls: used on /proc/self/fd/N, whose magic link resolves to the inode itself (a symlink
    // included: the walk stops at the jumped-to dentry and never follows the symlink's own target).
    [LibraryImport(Libc, SetLastError = true)] public static partial nint getxattr(byte* path, byte* name, byte* value, nuint size);
    [LibraryImport(Libc, SetLastError = true)] public static partial int setxattr(byte* path, byte* name, byte* value, nuint size, int flags);
    [LibraryImport(Libc, SetLastError = true)] public static partial nint listxattr(byte* path, byte* list, nuint size);
    [LibraryImport(Libc, SetLastError = true)] public static partial int removexattr(byte* path, byte* name);

    /// <summary>A NUL-terminated empty path, for <c>AT_EMPTY_PATH</c> calls on a node's own descriptor
    /// (<c>fixed</c> on an empty span would give a null pointer).</summary>
    public static readonly byte* EmptyPath = (byte*)NativeMemory.AllocZeroed(1);

    /// <summary>".", NUL-terminated.</summary>
    public static readonly byte* DotPath = AllocString("."u8);

    private static byte* AllocString(ReadOnlySpan<byte> s)
    {
        var p = (byte*)NativeMemory.AllocZeroed((nuint)s.Length + 1);
        s.CopyTo(new Span<byte>(p, s.Length));
        return p;
    }

    /// <summary>Writes <c>/proc/self/fd/<paramref name="fd"/></c> with its NUL into <paramref name="dst"/> (32 bytes are enough).</summary>
    public static void ProcPath(int fd, Span<byte> dst)
    {
        ReadOnlySpan<byte> prefix = "/proc/self/fd/"u8;
        prefix.CopyTo(dst);
        fd.TryFormat(dst[prefix.Length..], out int n);
        dst[prefix.Length + n] = 0;
    }

    /// <summary>glibc's <c>makedev</c>.</summary>
    public static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xFFFFF000u) << 32) | ((ulong)(major & 0xFFFu) << 8) | ((ulong)(minor & 0xFFFFFF00u) << 12) | (minor & 0xFFu);

    /// <summary>The kernel's <c>new_encode_dev</c>: the 32-bit form FUSE uses in fuse_attr.rdev and fuse_mknod_in.rdev.</summary>
    public static uint EncodeFuseDev(uint major, uint minor) => (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12);

    /// <summary>The kernel's <c>new_decode_dev</c>, to a host dev_t.</summary>
    public static ulong DecodeFuseDev(uint dev) => MakeDev((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00));
}

[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Sec;
    public long Nsec;
}

/// <summary><c>struct statx_timestamp</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatxTime
{
    public long Sec;
    public uint Nsec;
    public int Reserved;
}

/// <summary><c>struct statx</c> (256 bytes, the same on every architecture).</summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
internal struct Statx
{
    public uint Mask;
    public uint BlkSize;
    public ulong Attributes;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public ushort Mode;
    public ushort Spare0;
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong AttributesMask;
    public StatxTime Atime;
    public StatxTime Btime;
    public StatxTime Ctime;
    public StatxTime Mtime;
    public uint RdevMajor;
    public uint RdevMinor;
    public uint DevMajor;
    public uint DevMinor;

    public readonly ulong Dev => Native.MakeDev(DevMajor, DevMinor);
    public readonly uint Type => Mode & Native.S_IFMT;
}

/// <summary><c>struct cachestat_range</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct CachestatRange
{
    public ulong Offset;
    public ulong Length;
}

/// <summary><c>struct cachestat</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Cachestat
{
    public ulong Cached;
    public ulong Dirty;
    public ulong Writeback;
    public ulong Evicted;
    public ulong RecentlyEvicted;
}

/// <summary><c>struct iovec</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Iovec
{
    public void* Base;
    public nuint Length;
}

/// <summary><c>struct statfs</c> of 64-bit Linux (every field a long; 120 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct StatFsBuf
{
    public long Type;
    public long Bsize;
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public long Fsid;
    public long NameLen;
    public long Frsize;
    public long Flags;
    public long Spare0, Spare1, Spare2, Spare3;
}

/// <summary>struct rlimit (64-bit Linux).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RLimit
{
    public ulong Current;
    public ulong Maximum;
}
