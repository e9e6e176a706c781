using Akka.Configuration;
using FuseActors.Engine.Device;

namespace FuseActors.Actors.Mounting;

/// <summary>Reads <c>fuseactors.mount</c> (akka.hocon, --config, -o) into <see cref="MountOptions"/>: one reader for
/// every host that mounts (the CLI's memfs and passthrough, a cluster node, the Akka.Hosting extension). Missing keys
/// take the embedded defaults (<see cref="FuseActorsConfig.Default"/>).</summary>
public static class MountOptionsConfig
{
    /// <param name="source">What the mount table shows as the mount's source (e.g. "memfs", a directory, "cluster:VOLUME").</param>
    public static MountOptions FromConfig(Config root, string source)
    {
        var c = FuseActorsConfig.WithDefaults(root);
        return new()
        {
            Subtype = c.GetString("fuseactors.mount.subtype", "fuseactors"),
            AllowOther = c.GetBoolean("fuseactors.mount.allow-other", true),
            DefaultPermissions = c.GetBoolean("fuseactors.mount.default-permissions", true),
            Source = source,
            BusyUnmount = BusyUnmountParser.Parse(c.GetString("fuseactors.mount.busy-unmount", "detach")),
        };
    }

    /// <summary><c>fuseactors.mount.unmount-grace</c>: how long a busy mount's users get after a detach before the
    /// connection is aborted (<see cref="FuseMount.UnmountAsync(TimeSpan)"/>).</summary>
    public static TimeSpan UnmountGrace(Config root) =>
        FuseActorsConfig.WithDefaults(root).GetTimeSpan("fuseactors.mount.unmount-grace", TimeSpan.FromSeconds(5), allowInfinite: false);
}
