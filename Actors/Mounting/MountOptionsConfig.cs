using Akka.Configuration;
using FuseActors.Engine.Device;

namespace FuseActors.Actors.Mounting;

/// <summary>Reads <c>fuseactors.mount</c> (akka.hocon, --config, -o) into <see cref="MountOptions"/>: one reader for
/// every host that mounts (the CLI's memfs and passthrough, a cluster node).</summary>
public static class MountOptionsConfig
{
    /// <param name="source">What the mount table shows as the mount's source (e.g. "memfs", a directory, "cluster:VOLUME").</param>
    public static MountOptions FromConfig(Config root, string source) => new()
    {
        Subtype = root.GetString("fuseactors.mount.subtype", "fuseactors"),
        AllowOther = root.GetBoolean("fuseactors.mount.allow-other", true),
        DefaultPermissions = root.GetBoolean("fuseactors.mount.default-permissions", true),
        Source = source,
        BusyUnmount = BusyUnmountParser.Parse(root.GetString("fuseactors.mount.busy-unmount", "detach")),
    };
}
