using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Engine.Virtual;

namespace FuseActors.Actors.Mounting;

/// <summary>
/// A filesystem actor served by the engine on an in-process <see cref="VirtualDevice"/> and used through
/// <see cref="Client"/> (typed operations on nodes) or <see cref="Files"/> (paths): an Akka app's own filesystem
/// actor tree with a POSIX-like API, with no mount and no root. The engine runs exactly as on /dev/fuse.
/// </summary>
public sealed class InProcessFilesystem : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    // How long INIT may take before the start fails instead of hanging.
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);

    private InProcessFilesystem(VirtualDevice device, FuseMount mount, ConnectionReady ready, FuseCaller caller, VfsClientOptions? clientOptions)
    {
        Device = device;
        Mount = mount;
        Negotiated = ready;
        Client = new VfsClient(device, caller, clientOptions);
        Files = new VfsPathClient(Client);
    }

    /// <summary>Starts <paramref name="filesystem"/> as the child of a new engine connection on a new VirtualDevice
    /// and returns once INIT has been answered.</summary>
    public static Task<InProcessFilesystem> StartAsync(ActorSystem system, Props filesystem, InProcessOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(system, options, (device, settings) => FuseMount.Serve(system, filesystem, device, settings));
    }

    /// <summary>Serves an existing filesystem actor (it is not stopped with the connection).</summary>
    public static Task<InProcessFilesystem> StartAsync(ActorSystem system, IActorRef filesystem, InProcessOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(system, options, (device, settings) => FuseMount.Serve(system, filesystem, device, settings));
    }

    private static async Task<InProcessFilesystem> StartAsync(ActorSystem system, InProcessOptions? options,
        Func<IFuseDevice, ConnectionSettings, FuseMount> serve)
    {
        options ??= new InProcessOptions();
        var config = system.Settings.Config;
        // The engine's reader blocks in read(2); a non-blocking device would make it spin.
        var device = new VirtualDevice((options.Device ?? VirtualDeviceConfig.FromConfig(config)) with { NonBlocking = false });
        var served = options.Decorate?.Invoke(device) ?? device;
        FuseMount mount;
        try
        {
            mount = serve(served, options.Connection ?? ConnectionSettings.FromConfig(config));
        }
        catch
        {
            served.Dispose();
            throw;
        }
        ConnectionReady ready;
        try
        {
            ready = await mount.Ready.WaitAsync(StartLimit).ConfigureAwait(false);
        }
        catch
        {
            await mount.UnmountAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            throw;
        }
        return new InProcessFilesystem(device, mount, ready, options.Caller, options.Client);
    }

    /// <summary>The kernel side: credit, pending/processing/background requests, lookup counts, caches.</summary>
    public VirtualDevice Device { get; }

    /// <summary>The engine serving the filesystem (its connection actor, completion).</summary>
    public FuseMount Mount { get; }

    /// <summary>What INIT negotiated.</summary>
    public ConnectionReady Negotiated { get; }

    /// <summary>Typed operations on nodes, as <see cref="InProcessOptions.Caller"/>.</summary>
    public VfsClient Client { get; }

    /// <summary>Path operations (read a file whole, write it whole, list a directory ...).</summary>
    public VfsPathClient Files { get; }

    /// <summary>The same client acting for another caller.</summary>
    public VfsClient As(FuseCaller caller) => Client.As(caller);

    /// <summary>Closes the device (the last close of /dev/fuse) and waits until the engine has stopped.</summary>
    public Task StopAsync() => Mount.UnmountAsync(StopGrace);

    public ValueTask DisposeAsync() => new(StopAsync());
}

/// <summary>How <see cref="InProcessFilesystem"/> serves a filesystem. Unset settings come from the actor system's
/// config (<c>fuseactors.virtual-device</c>, <c>fuseactors.connection</c>), then from the defaults.</summary>
public sealed record InProcessOptions
{
    /// <summary>The kernel side: credit (max outstanding), protocol minor, offered INIT flags, cache clock.</summary>
    public VirtualDeviceOptions? Device { get; init; }

    /// <summary>The engine's connection settings (max in flight, timeouts, interrupt grace, dispatch).</summary>
    public ConnectionSettings? Connection { get; init; }

    /// <summary>Who <see cref="InProcessFilesystem.Client"/> calls as (uid, gid, pid in every request header).</summary>
    public FuseCaller Caller { get; init; } = FuseCaller.Root;

    /// <summary>Caching of the caller API (attribute and negative-entry caches).</summary>
    public VfsClientOptions? Client { get; init; }

    /// <summary>Wraps the device the engine is given (same bytes in and out), e.g. to watch or fault the request
    /// stream; disposing the wrapper must dispose the device. Null: the engine reads the VirtualDevice itself.</summary>
    public Func<VirtualDevice, IFuseDevice>? Decorate { get; init; }
}
