using Akka.Actor;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// A filesystem actor served by the real engine (DeviceReader, Connection) on an in-process
/// <see cref="VirtualDevice"/> (an <see cref="InProcessFilesystem"/>) with a fault injector between the two: no root,
/// no mount. Call it with <see cref="Client"/> (inodes) or <see cref="Files"/> (paths), break it with
/// <see cref="Faults"/>, and look at the kernel side's bookkeeping on <see cref="Device"/>.
/// </summary>
public sealed class ServedFilesystem : IAsyncDisposable
{
    private readonly InProcessFilesystem _fs;

    private ServedFilesystem(InProcessFilesystem fs, FaultInjector faults)
    {
        _fs = fs;
        Faults = faults;
    }

    /// <summary>Starts <paramref name="filesystem"/> in <paramref name="system"/> as the child of a new engine connection
    /// on a new VirtualDevice, and returns once INIT has been answered. (<see cref="FilesystemTestKit"/> does this for
    /// you and stops it when the test ends.)</summary>
    public static Task<ServedFilesystem> StartAsync(ActorSystem system, Props filesystem, FilesystemTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(options, o => InProcessFilesystem.StartAsync(system, filesystem, o));
    }

    /// <summary>Serves an existing filesystem actor (it is not stopped with the connection).</summary>
    public static Task<ServedFilesystem> StartAsync(ActorSystem system, IActorRef filesystem, FilesystemTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(filesystem);
        return StartAsync(options, o => InProcessFilesystem.StartAsync(system, filesystem, o));
    }

    private static async Task<ServedFilesystem> StartAsync(FilesystemTestOptions? options, Func<InProcessOptions, Task<InProcessFilesystem>> start)
    {
        options ??= new FilesystemTestOptions();
        FaultInjector? faults = null;
        var fs = await start(new InProcessOptions
        {
            Device = options.Device,
            Connection = options.Connection,
            Caller = options.Caller,
            Client = options.Client,
            Decorate = device =>
            {
                faults = new FaultInjector(device);
                return new FaultInjectingDevice(device, faults);
            },
        }).ConfigureAwait(false);
        return new ServedFilesystem(fs, faults!);
    }

    /// <summary>The kernel side: credit, pending/processing/background requests, lookup counts, caches.</summary>
    public VirtualDevice Device => _fs.Device;

    /// <summary>The engine serving the filesystem (its connection actor, completion).</summary>
    public FuseMount Mount => _fs.Mount;

    /// <summary>The connection actor; the filesystem actor is its child "fs" when served from Props.</summary>
    public IActorRef Connection => _fs.Mount.Connection;

    /// <summary>What INIT negotiated.</summary>
    public ConnectionReady Negotiated => _fs.Negotiated;

    /// <summary>Typed operations on nodes, as the caller given in <see cref="FilesystemTestOptions.Caller"/>.</summary>
    public VfsClient Client => _fs.Client;

    /// <summary>Path operations (read a file whole, write it whole, list a directory ...).</summary>
    public VfsPathClient Files => _fs.Files;

    /// <summary>Faults at named points of the request stream.</summary>
    public FaultInjector Faults { get; }

    /// <summary>The same client acting for another caller.</summary>
    public VfsClient As(FuseCaller caller) => _fs.As(caller);

    /// <summary>Aborts the connection (fusectl abort).</summary>
    public void AbortDevice() => Device.Abort();

    /// <summary>Closes the device (the last close of /dev/fuse) and waits until the engine has stopped.</summary>
    public Task StopAsync() => _fs.StopAsync();

    public ValueTask DisposeAsync() => _fs.DisposeAsync();
}
