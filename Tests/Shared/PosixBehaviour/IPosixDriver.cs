namespace FuseActors.PosixBehaviour;

/// <summary>
/// The few syscalls <see cref="PosixBehaviourTests"/> needs, by path relative to the filesystem's root. One
/// implementation calls a filesystem served on the in-process VirtualDevice, another calls the same filesystem
/// mounted for real; the suite runs unchanged on both, so the two paths cannot drift apart.
/// Failures throw <see cref="Engine.Virtual.FuseErrnoException"/> with the errno the syscall returned.
/// </summary>
public interface IPosixDriver : IAsyncDisposable
{
    /// <summary>The same filesystem, called as another user (fsuid/fsgid; the caller's uid/gid in requests).</summary>
    IPosixDriver As(uint uid, uint gid);

    Task<PosixStat> LstatAsync(string path);
    Task<PosixStatFs> StatFsAsync();
    Task MkDirAsync(string path, uint mode);
    Task RmDirAsync(string path);
    Task UnlinkAsync(string path);
    /// <summary>rename(2), or renameat2(2) with RENAME_NOREPLACE (1) / RENAME_EXCHANGE (2).</summary>
    Task RenameAsync(string from, string to, uint flags = 0);
    Task LinkAsync(string existing, string newPath);
    Task SymlinkAsync(string target, string linkPath);
    Task<string> ReadLinkAsync(string path);
    Task ChmodAsync(string path, uint mode);
    Task ChownAsync(string path, uint uid, uint gid);
    Task TruncateAsync(string path, long size);

    /// <summary>open(2) with O_* flags; O_CREAT creates with <paramref name="mode"/>.</summary>
    Task<IPosixFile> OpenAsync(string path, int flags, uint mode = 0x1A4);

    /// <summary>setxattr(2): flags XATTR_CREATE (1) / XATTR_REPLACE (2).</summary>
    Task SetXAttrAsync(string path, string name, byte[] value, int flags = 0);
    /// <summary>getxattr(2) with size 0: the value's size.</summary>
    Task<int> GetXAttrSizeAsync(string path, string name);
    /// <summary>getxattr(2) into a buffer of <paramref name="bufferSize"/> bytes (ERANGE if too small).</summary>
    Task<byte[]> GetXAttrAsync(string path, string name, int bufferSize);
    /// <summary>listxattr(2) with size 0: the size of the name list.</summary>
    Task<int> ListXAttrSizeAsync(string path);
    Task<string[]> ListXAttrAsync(string path);
    Task RemoveXAttrAsync(string path, string name);

    /// <summary>Opens the directory, seeks to <paramref name="cookie"/> (0 = start; else a cookie an earlier entry
    /// returned), reads at most <paramref name="max"/> entries ("." and ".." included), and closes it.</summary>
    Task<IReadOnlyList<PosixDirEntry>> ReadDirAsync(string path, long cookie, int max);
}

/// <summary>An open file descriptor.</summary>
public interface IPosixFile : IAsyncDisposable
{
    Task<byte[]> PReadAsync(long offset, int count);
    Task<int> PWriteAsync(long offset, byte[] data);
    /// <summary>lseek(2), including SEEK_DATA (3) and SEEK_HOLE (4).</summary>
    Task<long> SeekAsync(long offset, int whence);
    Task<PosixStat> FStatAsync();
}

public readonly record struct PosixStat(ulong Ino, uint Mode, ulong Nlink, uint Uid, uint Gid, long Size)
{
    public uint Type => Mode & 0xF000;
    public uint Permissions => Mode & 0xFFF;
}

public readonly record struct PosixStatFs(ulong Files, ulong FilesFree, ulong Blocks, ulong BlocksFree);

/// <summary>A directory entry and the cookie (d_off) to continue the listing after it.</summary>
public readonly record struct PosixDirEntry(string Name, long Cookie);
