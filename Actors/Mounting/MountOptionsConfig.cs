using Akka.Configuration;
using FuseActors.Engine.Device;

namespace FuseActors.Actors.Mounting;

/// <summary>Reads <c>fuseactors.mount</c> (akka.hocon, --config, -o) into <see cref="MountOptions"/>: one reader for
/// every host that mounts (the CLI's memfs and passthrough, a cluster node, the Akka.Hosting extension). Missing keys
/// take the embedded defaults (<see cref="FuseActorsConfig.Default"/>).</summary>
public static class MountOptionsConfig
{
    /// <param name="source">What the mount table shows as the mount's source (e.g. "memfs", a directory, "cluster:VOLUME")
    /// unless <c>fuseactors.mount.fsname</c> names it.</param>
    public static MountOptions FromConfig(Config root, string source)
    {
        var c = FuseActorsConfig.WithDefaults(root);
        var fsname = c.GetString("fuseactors.mount.fsname", "");
        long maxRead = c.HasPath("fuseactors.mount.max-read") ? c.GetByteSize("fuseactors.mount.max-read") ?? 0 : 0;
        if (maxRead is < 0 or > uint.MaxValue)
            throw new FormatException($"fuseactors.mount.max-read must be between 0 and {uint.MaxValue} bytes, not {maxRead}");
        return new MountOptions
        {
            Subtype = c.GetString("fuseactors.mount.subtype", "fuseactors"),
            AllowOther = c.GetBoolean("fuseactors.mount.allow-other", true),
            DefaultPermissions = c.GetBoolean("fuseactors.mount.default-permissions", true),
            Source = string.IsNullOrEmpty(fsname) ? source : fsname,
            ReadOnly = c.GetBoolean("fuseactors.mount.read-only", false),
            MaxRead = (uint)maxRead,
            AutoUnmount = c.GetBoolean("fuseactors.mount.auto-unmount", false),
            MountHelper = MountHelperParser.Parse(c.GetString("fuseactors.mount.mount-helper", "auto")),
            BusyUnmount = BusyUnmountParser.Parse(c.GetString("fuseactors.mount.busy-unmount", "detach")),
        };
    }

    /// <summary><c>fuseactors.mount.unmount-grace</c>: how long a busy mount's users get after a detach before the
    /// connection is aborted (<see cref="FuseMount.UnmountAsync(TimeSpan)"/>).</summary>
    public static TimeSpan UnmountGrace(Config root) =>
        FuseActorsConfig.WithDefaults(root).GetTimeSpan("fuseactors.mount.unmount-grace", TimeSpan.FromSeconds(5), allowInfinite: false);
}
