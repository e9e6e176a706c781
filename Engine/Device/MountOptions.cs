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
