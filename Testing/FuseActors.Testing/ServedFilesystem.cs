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

    internal ServedFilesystem(VirtualDevice device, FuseMount mount, FaultInjector faults, ConnectionReady ready, FuseCaller caller,
        VfsClientOptions? clientOptions)
    {
        Device = device;
        Mount = mount;
        Faults = faults;
        Negotiated = ready;
        Client = new VfsClient(device, caller, clientOptions);
        Files = new VfsPathClient(Client);
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
