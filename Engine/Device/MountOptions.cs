namespace FuseActors.Engine.Device;

/// <summary>Options passed to mount(2) for a <c>fuse.SUBTYPE</c> mount.</summary>
public sealed record MountOptions
{
    /// <summary>The mount's fsname: shown as the "device" column of the mount table (<c>fsname=</c>).</summary>
    public string Source { get; init; } = "fuseactors";
    /// <summary>Filesystem subtype: the mount type becomes <c>fuse.Subtype</c>.</summary>
    public string Subtype { get; init; } = "fuseactors";
    /// <summary>The kernel checks permissions from mode/uid/gid (ACCESS is then not sent).</summary>
    public bool DefaultPermissions { get; init; } = true;
    /// <summary>Users other than the mounter may use the mount.</summary>
    public bool AllowOther { get; init; } = true;
    /// <summary>Root's S_IF type and permission bits.</summary>
    public uint RootMode { get; init; } = 0x4000 | 0x1ED; // S_IFDIR | 0755
    public uint? UserId { get; init; }
    public uint? GroupId { get; init; }
    /// <summary>Mount read-only (MS_RDONLY; <c>ro</c> for fusermount3): every write fails with EROFS in the kernel.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>Largest READ the kernel sends, in bytes; 0 leaves the kernel default (but see <see cref="ReadsFitSplice"/>).</summary>
    public uint MaxRead { get; init; }
    /// <summary>The filesystem answers big READs from files (MemoryFs's memfds, <c>ReadRequest.ReplyFromFile</c>): with
    /// <see cref="MaxRead"/> 0 and the connection on /dev/fuse, max_read is then what this process's pipes can splice
    /// whole (<see cref="SplicedFileReply.LargestSplicedRead"/>; 1 MiB less a page without CAP_SYS_RESOURCE), so that
    /// those READs are spliced rather than copied twice.</summary>
    public bool ReadsFitSplice { get; init; }
    /// <summary>Unmount when the daemon dies, even by SIGKILL: a fusermount3 helper stays behind, holding a socket to
    /// the daemon, and lazily unmounts when that socket closes (libfuse's <c>auto_unmount</c>). Needs fusermount3.</summary>
    public bool AutoUnmount { get; init; }
    /// <summary>Who mounts: the daemon itself with mount(2), or the setuid fusermount3 helper (see <see cref="Device.MountHelper"/>).</summary>
    public MountHelper MountHelper { get; init; } = MountHelper.Auto;
    /// <summary>What unmounting does with a mount that is still in use (not a mount(2) option; see <see cref="FuseActors.Engine.Device.BusyUnmount"/>).</summary>
    public BusyUnmount BusyUnmount { get; init; } = BusyUnmount.Detach;

    /// <summary>The option string for mount(2)'s data argument.</summary>
    public string ToDataString(int fd, uint uid, uint gid)
    {
        var s = $"fd={fd},rootmode={Convert.ToString(RootMode, 8)},user_id={UserId ?? uid},group_id={GroupId ?? gid}";
        if (DefaultPermissions) s += ",default_permissions";
        if (AllowOther) s += ",allow_other";
        if (MaxRead > 0) s += $",max_read={MaxRead}";
        return s;
    }

    /// <summary>The <c>-o</c> string for fusermount3, which takes user-level options only: it works out fd, rootmode,
    /// user_id and group_id itself (so <see cref="RootMode"/>, <see cref="UserId"/> and <see cref="GroupId"/> do not
    /// apply), and always mounts nosuid,nodev. <paramref name="allowOther"/>: whether to ask for allow_other.</summary>
    public string ToFusermountOptions(bool allowOther)
    {
        var parts = new List<string> { "fsname=" + EscapeOption(Source), "subtype=" + EscapeOption(Subtype), "nosuid", "nodev" };
        if (ReadOnly) parts.Add("ro");
        if (DefaultPermissions) parts.Add("default_permissions");
        if (allowOther) parts.Add("allow_other");
        if (MaxRead > 0) parts.Add($"max_read={MaxRead}");
        if (AutoUnmount) parts.Add("auto_unmount");
        return string.Join(',', parts);
    }

    // fusermount3 splits -o at commas; in fsname= and subtype= a backslash escapes the next character.
    private static string EscapeOption(string value) => value.Replace("\\", "\\\\").Replace(",", "\\,");
}

/// <summary>How a mount is made (<c>fuseactors.mount.mount-helper</c>).</summary>
public enum MountHelper
{
    /// <summary>mount(2) directly when the process has CAP_SYS_ADMIN and no auto_unmount is asked for; fusermount3 otherwise.</summary>
    Auto,
    /// <summary>Always through fusermount3, even with CAP_SYS_ADMIN.</summary>
    Always,
    /// <summary>Only mount(2): without CAP_SYS_ADMIN (or with auto_unmount) mounting fails.</summary>
    Never,
}

public static class MountHelperParser
{
    /// <summary>Parses the <c>fuseactors.mount.mount-helper</c> setting: <c>auto</c>, <c>always</c> or <c>never</c>.</summary>
    public static MountHelper Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => MountHelper.Auto,
        "always" => MountHelper.Always,
        "never" => MountHelper.Never,
        _ => throw new FormatException($"fuseactors.mount.mount-helper must be 'auto', 'always' or 'never', not '{value}'"),
    };
}

/// <summary>How an unmount treats a mount that is still in use (open files, a process inside it).</summary>
public enum BusyUnmount
{
    /// <summary>Detach it at once (<c>umount2(MNT_DETACH)</c>): open files keep working for the grace, but a path resolved
    /// afterwards lands in the host's mountpoint directory underneath; the connection is aborted after the grace.</summary>
    Detach,
    /// <summary>Abort the connection at once but keep the mount in place: every access answers ENOTCONN/ECONNABORTED,
    /// so no path falls through to the host directory; the mount goes once nobody holds it, or lazily after the grace.</summary>
    Keep,
}

public static class BusyUnmountParser
{
    /// <summary>Parses the <c>fuseactors.mount.busy-unmount</c> setting: <c>detach</c> or <c>keep</c>.</summary>
    public static BusyUnmount Parse(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "detach" => BusyUnmount.Detach,
        "keep" => BusyUnmount.Keep,
        _ => throw new FormatException($"fuseactors.mount.busy-unmount must be 'detach' or 'keep', not '{value}'"),
    };
}
