using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Device;

/// <summary>
/// The readahead of a FUSE mount, which lives in its backing device info (<c>/sys/class/bdi/0:N/read_ahead_kb</c>, N
/// the connection id). The kernel offers its default (128 KiB) as max_readahead in INIT and takes the smaller of that
/// and the daemon's answer (process_init_reply), so INIT can only lower it: a larger readahead is set here, after INIT
/// was answered (the INIT reply would otherwise set it back). Writing the file needs root (and a writable /sys). A file
/// opened before the write keeps the readahead it started with (the kernel copies it at open) until it is closed.
/// </summary>
public static class MountReadahead
{
    /// <summary>The sysfs file holding connection <paramref name="connectionId"/>'s readahead in KiB (FUSE mounts have
    /// anonymous device numbers: major 0).</summary>
    public static string SysfsPath(uint connectionId) => $"/sys/class/bdi/0:{connectionId}/read_ahead_kb";

    /// <summary>The mount's readahead in bytes, or the errno that kept it from being read.</summary>
    public static Errno Current(uint connectionId, out long bytes)
    {
        bytes = 0;
        try
        {
            if (!long.TryParse(File.ReadAllText(SysfsPath(connectionId)).Trim(), out long kib)) return Errno.EIO;
            bytes = kib * 1024;
            return Errno.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return ErrnoOf(e); }
    }

    /// <summary>
    /// Raises the mount's readahead to <paramref name="bytes"/> (rounded down to whole KiB) when it is below that; never
    /// lowers it. <paramref name="before"/> is what it was (null when unreadable). Ok when it is now at least that much;
    /// otherwise the errno of the failed read or write: EACCES without the right to write it (not root, or root in a
    /// user namespace), EROFS where /sys is mounted read-only (a container), ENOENT when the mount's bdi is gone.
    /// </summary>
    public static Errno Raise(uint connectionId, long bytes, out long? before)
    {
        before = null;
        var e = Current(connectionId, out long now);
        if (e != Errno.Ok) return e;
        before = now;
        long kib = bytes / 1024;
        if (now >= kib * 1024) return Errno.Ok;
        try
        {
            File.WriteAllText(SysfsPath(connectionId), kib.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Errno.Ok;
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException) { return ErrnoOf(x); }
    }

    /// <summary>The errno behind a file exception: .NET on Unix keeps it as the HResult of a plain IOException (EROFS,
    /// EINVAL, ...) and maps EACCES/EPERM to UnauthorizedAccessException and ENOENT to the not-found exceptions.</summary>
    private static Errno ErrnoOf(Exception e) => e switch
    {
        UnauthorizedAccessException => Errno.EACCES,
        FileNotFoundException or DirectoryNotFoundException => Errno.ENOENT,
        IOException { HResult: > 0 and < 4096 } io => (Errno)io.HResult,
        _ => Errno.EIO,
    };
}
