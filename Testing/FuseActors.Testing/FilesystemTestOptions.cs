using FuseActors.Actors.Connection;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>How <see cref="FilesystemTestKit"/> serves a filesystem. Unset settings come from the test's actor system
/// config (<c>fuseactors.virtual-device</c>, <c>fuseactors.connection</c>), then from the defaults.</summary>
public sealed record FilesystemTestOptions
{
    /// <summary>The kernel side: credit (max outstanding), protocol minor, offered INIT flags, cache clock.</summary>
    public VirtualDeviceOptions? Device { get; init; }

    /// <summary>The engine's connection settings (max in flight, timeouts, interrupt grace, dispatch).</summary>
    public ConnectionSettings? Connection { get; init; }

    /// <summary>Who <see cref="ServedFilesystem.Client"/> calls as (uid, gid, pid in every request header).</summary>
    public FuseCaller Caller { get; init; } = FuseCaller.Root;

    /// <summary>Caching of the caller API (attribute and negative-entry caches).</summary>
    public VfsClientOptions? Client { get; init; }
}
