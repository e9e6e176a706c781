using System.Runtime.InteropServices;
using System.Text;
using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.PosixBehaviour;

/// <summary>
/// <see cref="IPosixDriver"/> over a real mount: the syscalls themselves, through glibc (x86-64 struct layouts).
/// Each call runs synchronously on the calling thread, so <see cref="As"/> can switch the thread's fsuid/fsgid around
/// it (setfsuid is per thread) and the kernel sends that identity to the filesystem.
/// </summary>
public sealed class LibcPosixDriver : IPosixDriver
{
    private readonly string _root;
    private readonly (uint Uid, uint Gid)? _identity;
    private readonly Func<ValueTask>? _stop;

    public LibcPosixDriver(string mountpoint, Func<ValueTask>? stop = null)
        : this(mountpoint, null, stop) { }

    private LibcPosixDriver(string mountpoint, (uint, uint)? identity, Func<ValueTask>? stop)
    {
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new PlatformNotSupportedException("the struct layouts here are x86-64's");
        _root = mountpoint;
        _identity = identity;
        _stop = stop;
    }

    public IPosixDriver As(uint uid, uint gid) => new LibcPosixDriver(_root, (uid, gid), null);

    public ValueTask DisposeAsync() => _stop?.Invoke() ?? ValueTask.CompletedTask;

    private string Full(string path) => path.Length == 0 ? _root : Path.Combine(_root, path);

    /// <summary>Runs one syscall as this driver's identity; a failure becomes the errno exception.</summary>
    private Task<T> Run<T>(Func<T> call)
    {
        if (_identity is { } id)
        {
            Native.setfsgid(id.Gid);
            Native.setfsuid(id.Uid);
        }
        try
        {
            return Task.FromResult(call());
        }
        catch (FuseErrnoException e)
        {
            return Task.FromException<T>(e);
        }
        finally
        {
            if (_identity is not null)
            {
                Native.setfsuid(0);
                Native.setfsgid(0);
            }
        }
    }

    /// <summary>A syscall that returns 0 or -1.</summary>
    private Task Do(Func<int> call) => Run(() => Check(call()));

    private static int Check(int result)
    {
        if (result < 0) throw new FuseErrnoException((Errno)Marshal.GetLastPInvokeError());
        return result;
    }

    private static long Check(long result)
    {
        if (result < 0) throw new FuseErrnoException((Errno)Marshal.GetLastPInvokeError());
        return result;
    }

    // ------------------------------------------------------------ names

    public Task<PosixStat> LstatAsync(string path) => Run(() =>
    {
        Check(Native.lstat(Full(path), out var st));
        return st.ToPosix();
    });

    public Task<PosixStatFs> StatFsAsync() => Run(() =>
    {
        Check(Native.statvfs(_root, out var s));
        return new PosixStatFs(s.f_files, s.f_ffree, s.f_blocks, s.f_bfree);
    });

    public Task MkDirAsync(string path, uint mode) => Do(() => Native.mkdir(Full(path), mode));
    public Task RmDirAsync(string path) => Do(() => Native.rmdir(Full(path)));
    public Task UnlinkAsync(string path) => Do(() => Native.unlink(Full(path)));
    public Task RenameAsync(string from, string to, uint flags = 0) =>
        Do(() => Native.renameat2(Native.AT_FDCWD, Full(from), Native.AT_FDCWD, Full(to), flags));
    public Task LinkAsync(string existing, string newPath) => Do(() => Native.link(Full(existing), Full(newPath)));
    public Task SymlinkAsync(string target, string linkPath) => Do(() => Native.symlink(target, Full(linkPath)));
    public Task ChmodAsync(string path, uint mode) => Do(() => Native.chmod(Full(path), mode));
    public Task ChownAsync(string path, uint uid, uint gid) => Do(() => Native.lchown(Full(path), uid, gid));
    public Task TruncateAsync(string path, long size) => Do(() => Native.truncate(Full(path), size));

    public Task<string> ReadLinkAsync(string path) => Run(() =>
    {
        var buf = new byte[4096];
        long n = Check(Native.readlink(Full(path), buf, buf.Length));
        return Encoding.UTF8.GetString(buf, 0, (int)n);
    });

    // ------------------------------------------------------------ files

    public Task<IPosixFile> OpenAsync(string path, int flags, uint mode = 0x1A4) =>
        Run<IPosixFile>(() => new File(Check(Native.open(Full(path), flags, mode))));

    private sealed class File(int fd) : IPosixFile
    {
        public Task<byte[]> PReadAsync(long offset, int count)
        {
            var buf = new byte[count];
            long n = Native.pread(fd, buf, count, offset);
            return n < 0 ? Fail<byte[]>() : Task.FromResult(buf[..(int)n]);
        }

        public Task<int> PWriteAsync(long offset, byte[] data)
        {
            long n = Native.pwrite(fd, data, data.Length, offset);
            return n < 0 ? Fail<int>() : Task.FromResult((int)n);
        }

        public Task<long> SeekAsync(long offset, int whence)
        {
            long n = Native.lseek(fd, offset, whence);
            return n < 0 ? Fail<long>() : Task.FromResult(n);
        }

        public Task<PosixStat> FStatAsync() =>
            Native.fstat(fd, out var st) < 0 ? Fail<PosixStat>() : Task.FromResult(st.ToPosix());

        public ValueTask DisposeAsync()
        {
            Native.close(fd);
            return ValueTask.CompletedTask;
        }

        private static Task<T> Fail<T>() => Task.FromException<T>(new FuseErrnoException((Errno)Marshal.GetLastPInvokeError()));
    }

    // ------------------------------------------------------------ xattrs

    public Task SetXAttrAsync(string path, string name, byte[] value, int flags = 0) =>
        Do(() => Native.lsetxattr(Full(path), name, value, value.Length, flags));

    public Task<int> GetXAttrSizeAsync(string path, string name) =>
        Run(() => (int)Check(Native.lgetxattr(Full(path), name, null, 0)));

    public Task<byte[]> GetXAttrAsync(string path, string name, int bufferSize) => Run(() =>
    {
        var buf = new byte[bufferSize];
        long n = Check(Native.lgetxattr(Full(path), name, buf, buf.Length));
        return buf[..(int)n];
    });

    public Task<int> ListXAttrSizeAsync(string path) => Run(() => (int)Check(Native.llistxattr(Full(path), null, 0)));

    public Task<string[]> ListXAttrAsync(string path) => Run(() =>
    {
        var buf = new byte[65536];
        long n = Check(Native.llistxattr(Full(path), buf, buf.Length));
        return Encoding.UTF8.GetString(buf, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    });

    public Task RemoveXAttrAsync(string path, string name) => Do(() => Native.lremovexattr(Full(path), name));

    // ------------------------------------------------------------ directories

    public Task<IReadOnlyList<PosixDirEntry>> ReadDirAsync(string path, long cookie, int max) => Run<IReadOnlyList<PosixDirEntry>>(() =>
    {
        var dir = Native.opendir(Full(path));
        if (dir == IntPtr.Zero) throw new FuseErrnoException((Errno)Marshal.GetLastPInvokeError());
        try
        {
            if (cookie != 0) Native.seekdir(dir, cookie);
            var result = new List<PosixDirEntry>();
            while (result.Count < max)
            {
                Marshal.SetLastPInvokeError(0);
                var e = Native.readdir(dir);
                if (e == IntPtr.Zero)
                {
                    int err = Marshal.GetLastPInvokeError();
                    if (err != 0) throw new FuseErrnoException((Errno)err);
                    break;
                }
                // struct dirent (x86-64): d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[256].
                long off = Marshal.ReadInt64(e, 8);
                string name = Marshal.PtrToStringUTF8(e + 19)!;
                result.Add(new PosixDirEntry(name, off));
            }
            return result;
        }
        finally
        {
            Native.closedir(dir);
        }
    });

    // ------------------------------------------------------------ glibc

    [StructLayout(LayoutKind.Sequential)]
    private struct Stat
    {
        public ulong st_dev, st_ino, st_nlink;
        public uint st_mode, st_uid, st_gid;
        private int _pad0;
        public ulong st_rdev;
        public long st_size, st_blksize, st_blocks;
        public long st_atime, st_atime_nsec, st_mtime, st_mtime_nsec, st_ctime, st_ctime_nsec;
        private long _reserved0, _reserved1, _reserved2;

        public readonly PosixStat ToPosix() => new(st_ino, st_mode, st_nlink, st_uid, st_gid, st_size);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfs
    {
        public ulong f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail, f_fsid, f_flag, f_namemax;
        private int _spare0, _spare1, _spare2, _spare3, _spare4, _spare5;
    }

    private static class Native
    {
        public const int AT_FDCWD = -100;
        private const string Libc = "libc";

        [DllImport(Libc, SetLastError = true)] public static extern int lstat(string path, out Stat st);
        [DllImport(Libc, SetLastError = true)] public static extern int fstat(int fd, out Stat st);
        [DllImport(Libc, SetLastError = true)] public static extern int statvfs(string path, out StatVfs st);
        [DllImport(Libc, SetLastError = true)] public static extern int mkdir(string path, uint mode);
        [DllImport(Libc, SetLastError = true)] public static extern int rmdir(string path);
        [DllImport(Libc, SetLastError = true)] public static extern int unlink(string path);
        [DllImport(Libc, SetLastError = true)] public static extern int renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
        [DllImport(Libc, SetLastError = true)] public static extern int link(string oldpath, string newpath);
        [DllImport(Libc, SetLastError = true)] public static extern int symlink(string target, string linkpath);
        [DllImport(Libc, SetLastError = true)] public static extern long readlink(string path, byte[] buf, long size);
        [DllImport(Libc, SetLastError = true)] public static extern int chmod(string path, uint mode);
        [DllImport(Libc, SetLastError = true)] public static extern int lchown(string path, uint owner, uint group);
        [DllImport(Libc, SetLastError = true)] public static extern int truncate(string path, long length);
        [DllImport(Libc, SetLastError = true)] public static extern int open(string path, int flags, uint mode);
        [DllImport(Libc, SetLastError = true)] public static extern int close(int fd);
        [DllImport(Libc, SetLastError = true)] public static extern long pread(int fd, byte[] buf, long count, long offset);
        [DllImport(Libc, SetLastError = true)] public static extern long pwrite(int fd, byte[] buf, long count, long offset);
        [DllImport(Libc, SetLastError = true)] public static extern long lseek(int fd, long offset, int whence);
        [DllImport(Libc, SetLastError = true)] public static extern int lsetxattr(string path, string name, byte[] value, long size, int flags);
        [DllImport(Libc, SetLastError = true)] public static extern long lgetxattr(string path, string name, byte[]? value, long size);
        [DllImport(Libc, SetLastError = true)] public static extern long llistxattr(string path, byte[]? list, long size);
        [DllImport(Libc, SetLastError = true)] public static extern int lremovexattr(string path, string name);
        [DllImport(Libc, SetLastError = true)] public static extern IntPtr opendir(string path);
        [DllImport(Libc, SetLastError = true)] public static extern IntPtr readdir(IntPtr dir);
        [DllImport(Libc, SetLastError = true)] public static extern void seekdir(IntPtr dir, long loc);
        [DllImport(Libc, SetLastError = true)] public static extern int closedir(IntPtr dir);
        [DllImport(Libc, SetLastError = true)] public static extern int setfsuid(uint fsuid);
        [DllImport(Libc, SetLastError = true)] public static extern int setfsgid(uint fsgid);
    }
}
