using Akka.Configuration;
using FuseActors.Engine.Device;

namespace FuseActors.Actors.Mounting;

/// <summary>Reads <c>fuseactors.mount</c> (akka.hocon, --config, -o) into <see cref="MountOptions"/>: one reader for
/// every host that mounts (the CLI's memfs and passthrough, a cluster node).</summary>
public static class MountOptionsConfig
{
    /// <param name="source">What the mount table shows as the mount's source (e.g. "memfs", a directory, "cluster:VOLUME")
    /// unless <c>fuseactors.mount.fsname</c> names it.</param>
    public static MountOptions FromConfig(Config root, string source)
    {
        var fsname = root.GetString("fuseactors.mount.fsname", "");
        long maxRead = root.HasPath("fuseactors.mount.max-read") ? root.GetByteSize("fuseactors.mount.max-read") ?? 0 : 0;
        if (maxRead is < 0 or > uint.MaxValue)
            throw new FormatException($"fuseactors.mount.max-read must be between 0 and {uint.MaxValue} bytes, not {maxRead}");
        return new MountOptions
        {
            Subtype = root.GetString("fuseactors.mount.subtype", "fuseactors"),
            AllowOther = root.GetBoolean("fuseactors.mount.allow-other", true),
            DefaultPermissions = root.GetBoolean("fuseactors.mount.default-permissions", true),
            Source = string.IsNullOrEmpty(fsname) ? source : fsname,
            ReadOnly = root.GetBoolean("fuseactors.mount.read-only", false),
            MaxRead = (uint)maxRead,
            AutoUnmount = root.GetBoolean("fuseactors.mount.auto-unmount", false),
            MountHelper = MountHelperParser.Parse(root.GetString("fuseactors.mount.mount-helper", "auto")),
            BusyUnmount = BusyUnmountParser.Parse(root.GetString("fuseactors.mount.busy-unmount", "detach")),
        };
    }
}
