namespace FuseActors.Engine.Device;

/// <summary>Options passed to mount(2) for a <c>fuse.SUBTYPE</c> mount.</summary>
public sealed record MountOptions
{
    /// <summary>Shown as the "device" column of the mount table.</summary>
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
    public bool ReadOnly { get; init; }
    /// <summary>0 leaves the kernel default.</summary>
    public uint MaxRead { get; init; }
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
