using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Device;

/// <summary>
/// The readahead of a FUSE mount, which lives in its backing device info (<c>/sys/class/bdi/0:N/read_ahead_kb</c>, N
/// the connection id). The kernel offers its default (128 KiB) as max_readahead in INIT and takes the smaller of that
/// and the daemon's answer (process_init_reply), so INIT can only lower it: a larger readahead is set here, after INIT
/// was answered (the INIT reply would otherwise set it back). Writing the file needs root.
/// </summary>
public static class MountReadahead
{
    /// <summary>The sysfs file holding connection <paramref name="connectionId"/>'s readahead in KiB (FUSE mounts have
    /// anonymous device numbers: major 0).</summary>
    public static string SysfsPath(uint connectionId) => $"/sys/class/bdi/0:{connectionId}/read_ahead_kb";

    /// <summary>The mount's readahead in bytes, or null when it cannot be read.</summary>
    public static long? Current(uint connectionId)
    {
        try
        {
            return long.TryParse(File.ReadAllText(SysfsPath(connectionId)).Trim(), out long kib) ? kib * 1024 : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Raises the mount's readahead to <paramref name="bytes"/> (rounded down to whole KiB) when it is below that; never
    /// lowers it. <paramref name="before"/> is what it was (null when unreadable). Ok when it is now at least that much;
    /// EACCES without the right to write it (not root), ENOENT when the mount's bdi is gone (unmounted meanwhile).
    /// </summary>
    public static Errno Raise(uint connectionId, long bytes, out long? before)
    {
        before = Current(connectionId);
        if (before is null) return Errno.ENOENT;
        long kib = bytes / 1024;
        if (before.Value >= kib * 1024) return Errno.Ok;
        try
        {
            File.WriteAllText(SysfsPath(connectionId), kib.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Errno.Ok;
        }
        catch (FileNotFoundException) { return Errno.ENOENT; }
        catch (DirectoryNotFoundException) { return Errno.ENOENT; }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
        catch (IOException) { return Errno.EIO; }
    }
}
