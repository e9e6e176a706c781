using System.Text;
using FuseActors.Engine.Protocol;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>mount(2) and umount2(2) for FUSE, done by the daemon itself (no fusermount): needs root or CAP_SYS_ADMIN.</summary>
public static unsafe class FuseMounter
{
    /// <summary>Opens /dev/fuse and mounts it at <paramref name="mountpoint"/>. The returned device is the connection's first queue.</summary>
    public static LinuxFuseDevice Mount(string mountpoint, MountOptions options)
    {
        var device = LinuxFuseDevice.Open();
        try
        {
            string data = options.ToDataString(device.Fd, getuid(), getgid());
            ulong flags = (ulong)(MS_NOSUID | MS_NODEV);
            if (options.ReadOnly) flags |= (ulong)MS_RDONLY;
            fixed (byte* src = Z(options.Source))
            fixed (byte* target = Z(mountpoint))
            fixed (byte* type = Z("fuse." + options.Subtype))
            fixed (byte* d = Z(data))
            {
                if (mount(src, target, type, (Tmds.Linux.ulong_t)flags, d) < 0)
                    throw new FuseDeviceException((Errno)errno, $"mount({mountpoint})");
            }
            return device;
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Detaches the mount (MNT_DETACH): the daemon's next read sees ENODEV once no one uses it.
    /// Returns Ok, or the errno (EINVAL when it was not mounted).</summary>
    public static Errno Unmount(string mountpoint)
    {
        fixed (byte* target = Z(mountpoint))
        {
            return umount2(target, MNT_DETACH) < 0 ? (Errno)errno : Errno.Ok;
        }
    }

    /// <summary>True when <paramref name="path"/> is the root of a mount, by /proc/self/mountinfo.</summary>
    public static bool IsMountPoint(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) full = "/";
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && UnescapeMountPath(fields[4]) == full) return true;
        }
        return false;
    }

    private static string UnescapeMountPath(string s)
    {
        if (!s.Contains('\\')) return s;
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length)
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else sb.Append(s[i]);
        }
        return sb.ToString();
    }

    private static byte[] Z(string s) => Encoding.UTF8.GetBytes(s + "\0");
}
