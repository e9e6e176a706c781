using Akka.Configuration;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;

namespace FuseActors.Hosting;

/// <summary>How <see cref="FuseHostingExtensions.WithFuseMount"/> mounts a filesystem actor. Anything left unset comes
/// from the actor system's config (<c>fuseactors.mount</c>, <c>fuseactors.connection</c>), then from the library's
/// embedded defaults.</summary>
public sealed class FuseMountSetup
{
    /// <summary>The name the mount is registered under in <see cref="FuseMountRegistry"/> and checked by
    /// <see cref="FuseMountHealthCheck"/>. Default: the mountpoint.</summary>
    public string? Name { get; set; }

    /// <summary>Config in front of the actor system's for this mount only (e.g. <c>fuseactors.connection.max-in-flight = 16</c>).</summary>
    public Config? Config { get; set; }

    /// <summary>The mount options; null reads <c>fuseactors.mount</c>.</summary>
    public MountOptions? MountOptions { get; set; }

    /// <summary>What the mount table shows as the source when <see cref="MountOptions"/> is null. Default "fuseactors".</summary>
    public string? Source { get; set; }

    /// <summary>The connection's settings; null reads <c>fuseactors.connection</c>.</summary>
    public ConnectionSettings? ConnectionSettings { get; set; }

    /// <summary>How long a busy mount's users get at shutdown before the connection is aborted; null reads
    /// <c>fuseactors.mount.unmount-grace</c> (5 s). The CoordinatedShutdown phase the unmount runs in gets this plus
    /// <see cref="FuseHostingExtensions.ShutdownMargin"/> as its timeout.</summary>
    public TimeSpan? UnmountGrace { get; set; }

    /// <summary>What shutdown does with a busy mount (detach or keep); null reads <c>fuseactors.mount.busy-unmount</c>.</summary>
    public BusyUnmount? BusyUnmount { get; set; }

    /// <summary>The connection actor's name; null lets Akka pick one.</summary>
    public string? ActorName { get; set; }

    /// <summary>
    /// False (the default): a mount that fails at start is logged as an error, the registry's <see cref="FuseMountRegistry.GetAsync"/>
    /// fails with its exception and <see cref="FuseMountHealthCheck"/> reports Unhealthy, but the host keeps running (other
    /// mounts, actors and startup tasks of the same actor system still start; an orchestrator acts on the health check).
    /// True: the startup task throws, so Akka.Hosting stops the actor system and the host's StartAsync fails.
    /// </summary>
    public bool FailStartOnError { get; set; }
}

/// <summary>How <see cref="FuseHostingExtensions.WithFuseFilesystem"/> serves a filesystem actor in process.</summary>
public sealed class FuseFilesystemSetup
{
    /// <summary>The VirtualDevice, connection and client options; unset ones come from the actor system's config.</summary>
    public InProcessOptions Options { get; set; } = new();

    /// <summary>See <see cref="FuseMountSetup.FailStartOnError"/>.</summary>
    public bool FailStartOnError { get; set; }
}
