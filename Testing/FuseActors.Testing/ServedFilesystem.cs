using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// A filesystem actor served by the real engine (DeviceReader, Connection, Request actors) on an in-process
/// <see cref="VirtualDevice"/>: no root, no mount. Call it with <see cref="Client"/> (inodes) or <see cref="Files"/>
/// (paths), break it with <see cref="Faults"/>, and look at the kernel side's bookkeeping on <see cref="Device"/>.
/// </summary>
public sealed class ServedFilesystem : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    // How long INIT may take before the start fails instead of hanging.
    private static readonly TimeSpan StartLimit = TimeSpan.FromSeconds(30);

    private ServedFilesystem(VirtualDevice device, FuseMount mount, FaultInjector faults, ConnectionReady ready, FuseCaller caller,
        VfsClientOptions? clientOptions)
    {
        Device = device;
        Mount = mount;
        Faults = faults;
        Negotiated = ready;
        Client = new VfsClient(device, caller, clientOptions);
        Files = new VfsPathClient(Client);
    }

    /// <summary>Starts <paramref name="filesystem"/> in <paramref name="system"/> as the child of a new engine connection
    /// on a new VirtualDevice, and returns once INIT has been answered. (<see cref="FilesystemTestKit"/> does this for
    /// you and stops it when the test ends.)</summary>
    public static Task<ServedFilesystem> StartAsync(ActorSystem system, Props filesystem, FilesystemTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(system, options, (device, settings) => FuseMount.Serve(system, filesystem, device, settings));
    }

    /// <summary>Serves an existing filesystem actor (it is not stopped with the connection).</summary>
    public static Task<ServedFilesystem> StartAsync(ActorSystem system, IActorRef filesystem, FilesystemTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(system, options, (device, settings) => FuseMount.Serve(system, filesystem, device, settings));
    }

    private static async Task<ServedFilesystem> StartAsync(ActorSystem system, FilesystemTestOptions? options,
        Func<FaultInjectingDevice, ConnectionSettings, FuseMount> serve)
    {
        options ??= new FilesystemTestOptions();
        var config = system.Settings.Config;
        // The engine's reader blocks in read(2); a non-blocking device would make it spin.
        var deviceOptions = (options.Device ?? VirtualDeviceConfig.FromConfig(config)) with { NonBlocking = false };
        var device = new VirtualDevice(deviceOptions);
        var faults = new FaultInjector(device);
        var wrapped = new FaultInjectingDevice(device, faults);
        FuseMount mount;
        try
        {
            mount = serve(wrapped, options.Connection ?? ConnectionSettings.FromConfig(config));
        }
        catch
        {
            wrapped.Dispose();
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
        return new ServedFilesystem(device, mount, faults, ready, options.Caller, options.Client);
    }

    /// <summary>The kernel side: credit, pending/processing/background requests, lookup counts, caches.</summary>
    public VirtualDevice Device { get; }

    /// <summary>The engine serving the filesystem (its connection actor, completion).</summary>
    public FuseMount Mount { get; }

    /// <summary>The connection actor; the filesystem actor is its child "fs" when served from Props.</summary>
    public IActorRef Connection => Mount.Connection;

    /// <summary>What INIT negotiated.</summary>
    public ConnectionReady Negotiated { get; }

    /// <summary>Typed operations on nodes, as the caller given in <see cref="FilesystemTestOptions.Caller"/>.</summary>
    public VfsClient Client { get; }

    /// <summary>Path operations (read a file whole, write it whole, list a directory ...).</summary>
    public VfsPathClient Files { get; }

    /// <summary>Faults at named points of the request stream.</summary>
    public FaultInjector Faults { get; }

    /// <summary>The same client acting for another caller.</summary>
    public VfsClient As(FuseCaller caller) => Client.As(caller);

    /// <summary>Aborts the connection (fusectl abort).</summary>
    public void AbortDevice() => Device.Abort();

    /// <summary>Closes the device (the last close of /dev/fuse) and waits until the engine has stopped.</summary>
    public Task StopAsync() => Mount.UnmountAsync(StopGrace);

    public ValueTask DisposeAsync() => new(StopAsync());
}
