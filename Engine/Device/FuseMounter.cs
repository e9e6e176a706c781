using System.Text;
using FuseActors.Engine.Protocol;
using static Tmds.Linux.LibC;

namespace FuseActors.Engine.Device;

/// <summary>mount(2) and umount2(2) for FUSE, done by the daemon itself (needs CAP_SYS_ADMIN), or through
/// fusermount3 (<see cref="Fusermount"/>) when it may not or auto_unmount is asked for: <see cref="MountAny"/>.</summary>
public static unsafe class FuseMounter
{
    private const int CapSysAdmin = 21;

    /// <summary>True when the process may call mount(2) itself: CAP_SYS_ADMIN in its effective set (not "euid is 0":
    /// root without the capability cannot, and a process granted only the capability can).</summary>
    public static bool CanMountDirectly()
    {
        var header = new CapHeader { Version = 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, Pid = 0 };
        var data = stackalloc CapData[2];
        if (CapGet(&header, data) == 0) return (data[0].Effective & (1u << CapSysAdmin)) != 0;
        try
        {
            return HasCapability(File.ReadAllText("/proc/self/status"), CapSysAdmin);
        }
        catch (IOException) { return false; }
    }

    /// <summary>Whether the <c>CapEff:</c> line of a /proc/PID/status text has capability bit <paramref name="bit"/>.</summary>
    public static bool HasCapability(string procStatus, int bit)
    {
        foreach (var line in procStatus.Split('\n'))
        {
            if (!line.StartsWith("CapEff:", StringComparison.Ordinal)) continue;
            return ulong.TryParse(line["CapEff:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, null, out var mask)
                && (mask & (1UL << bit)) != 0;
        }
        return false;
    }

    /// <summary>
    /// Mounts the way <paramref name="options"/> asks (<see cref="MountOptions.MountHelper"/>): mount(2) when the process has
    /// CAP_SYS_ADMIN and no auto_unmount is wanted, else fusermount3. Through fusermount3 as a user other than root,
    /// allow_other is dropped (with a note) unless /etc/fuse.conf has <c>user_allow_other</c>, since fusermount3 would
    /// refuse the whole mount. Throws <see cref="FuseDeviceException"/> saying what is missing when neither way works.
    /// </summary>
    public static KernelMount MountAny(string mountpoint, MountOptions options)
    {
        bool direct = CanMountDirectly();
        bool useHelper = options.MountHelper switch
        {
            MountHelper.Always => true,
            MountHelper.Never => false,
            _ => options.AutoUnmount || !direct,
        };
        var notes = new List<string>();
        if (!useHelper)
        {
            if (options.AutoUnmount)
                throw FuseDeviceException.WithMessage(Errno.EINVAL,
                    "auto_unmount needs fusermount3, but fuseactors.mount.mount-helper = never");
            if (!direct)
                throw FuseDeviceException.WithMessage(Errno.EPERM,
                    $"mounting {mountpoint} needs CAP_SYS_ADMIN (fuseactors.mount.mount-helper = never rules out fusermount3)");
            return new KernelMount(Mount(mountpoint, options), mountpoint, null, 0, -1, notes);
        }
        var helper = Fusermount.Find();
        if (helper is null)
        {
            string why = options.MountHelper == MountHelper.Always ? "fuseactors.mount.mount-helper = always"
                : options.AutoUnmount ? "auto_unmount" : "this process has no CAP_SYS_ADMIN, so it";
            throw FuseDeviceException.WithMessage(Errno.EPERM,
                $"mounting {mountpoint}: {why} needs fusermount3, which is not installed: mounting needs CAP_SYS_ADMIN or fusermount3 (apt-get install fuse3)");
        }
        bool allowOther = options.AllowOther;
        if (allowOther && getuid() != 0 && !Fusermount.UserAllowOther())
        {
            allowOther = false;
            notes.Add("allow_other dropped: only the mounting user can use this mount (a user other than root may ask for it " +
                "only when /etc/fuse.conf has a line 'user_allow_other')");
        }
        var result = Fusermount.Mount(helper, mountpoint, options.ToFusermountOptions(allowOther), options.AutoUnmount);
        return new KernelMount(result.Device, mountpoint, helper, result.HelperPid, result.AutoUnmountSocket, notes);
    }

    private struct CapHeader { public uint Version; public int Pid; }
#pragma warning disable CS0649 // filled by capget
    private struct CapData { public uint Effective, Permitted, Inheritable; }
#pragma warning restore CS0649

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "capget")]
    private static extern int CapGet(CapHeader* header, CapData* data);

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

    /// <summary>The fusectl connection id of the FUSE mount at (or containing) <paramref name="mountpoint"/>: the minor
    /// number of its st_dev; null when it cannot be stat-ed or is not on a FUSE mount (a device whose major is not 0).
    /// Taken right after mounting, because a detached mount can no longer be found by path. Read from mountinfo where it
    /// lists the path: a stat would wait for the daemon's INIT reply, for ever if the connection never started.</summary>
    public static uint? ConnectionId(string mountpoint)
    {
        if (MountedConnectionId(mountpoint) is { } listed) return listed;
        Tmds.Linux.stat st;
        fixed (byte* p = Z(mountpoint))
        {
            if (stat(p, &st) < 0) return null;
        }
        ulong dev = st.st_dev;
        // A FUSE mount's device is anonymous (major 0); any other is not the mount's (something mounted over it): no id,
        // rather than one that names another filesystem's connection or bdi.
        ulong major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000);
        if (major != 0) return null;
        return (uint)((dev & 0xff) | ((dev >> 12) & 0xfff00));
    }

    /// <summary>
    /// Aborts a FUSE connection through fusectl (<c>/sys/fs/fuse/connections/ID/abort</c>), mounting fusectl first if
    /// nobody has: callers inside get ECONNABORTED/ENOTCONN and the daemon's blocked read returns. This is the only
    /// reliable way to end a connection whose detached mount is still in use (closing the fd does not wake a read).
    /// </summary>
    public static Errno Abort(uint connectionId)
    {
        const string root = "/sys/fs/fuse/connections";
        var abortFile = $"{root}/{connectionId}/abort";
        if (!File.Exists(abortFile) && Directory.Exists(root) && !Directory.EnumerateFileSystemEntries(root).Any())
        {
            fixed (byte* src = Z("fusectl"))
            fixed (byte* target = Z(root))
            fixed (byte* type = Z("fusectl"))
            {
                if (mount(src, target, type, default, null) < 0 && errno != EBUSY) return (Errno)errno;
            }
        }
        try
        {
            File.WriteAllText(abortFile, "1");
            return Errno.Ok;
        }
        catch (FileNotFoundException) { return Errno.ENOENT; }
        catch (DirectoryNotFoundException) { return Errno.ENOENT; }
        catch (IOException) { return Errno.EIO; }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
    }

    /// <summary>Unmounts if nobody uses the mount (plain umount2). EBUSY when it is in use.</summary>
    public static Errno TryUnmount(string mountpoint)
    {
        fixed (byte* target = Z(mountpoint))
        {
            return umount2(target, 0) < 0 ? (Errno)errno : Errno.Ok;
        }
    }

    /// <summary>True when <paramref name="path"/> is a FUSE mount whose daemon is gone: the kernel still lists the mount
    /// but every access fails with ENOTCONN ("Transport endpoint is not connected") until someone unmounts it.</summary>
    public static bool IsDeadFuseMount(string path)
    {
        if (MountedConnectionId(path) is null) return false;
        string full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) full = "/";
        // statfs always reaches the daemon (a stat may be answered from the kernel's attribute cache).
        byte* buf = stackalloc byte[256];
        fixed (byte* p = Z(full))
            return StatFs(p, buf) < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == ENOTCONN;
    }

    // Tmds.LibC 0.5 has no statfs(2).
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "statfs", SetLastError = true)]
    private static extern int StatFs(byte* path, byte* buf);

    /// <summary>The fusectl connection id of the FUSE mount that /proc/self/mountinfo lists on top at <paramref name="path"/>
    /// (its device is 0:ID), or null when the path shows no FUSE mount there. Asks nothing of any daemon.</summary>
    public static uint? MountedConnectionId(string path)
    {
        string full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0) full = "/";
        uint? id = null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            int dash = Array.IndexOf(fields, "-");
            if (fields.Length <= 4 || dash <= 4 || dash + 1 >= fields.Length || UnescapeMountPath(fields[4]) != full) continue;
            bool fuse = fields[dash + 1] == "fuse" || fields[dash + 1].StartsWith("fuse.", StringComparison.Ordinal);
            var dev = fields[2].Split(':');
            id = fuse && dev.Length == 2 && dev[0] == "0" && uint.TryParse(dev[1], out uint minor) ? minor : null; // the last one is on top
        }
        return id;
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
