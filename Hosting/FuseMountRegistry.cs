using System.Collections.Concurrent;
using Akka.Actor;
using FuseActors.Actors.Mounting;

namespace FuseActors.Hosting;

/// <summary>Where a registered mount is in its life.</summary>
public enum FuseMountState
{
    /// <summary>Configured, not mounted yet (the actor system has not started, or INIT is not answered yet).</summary>
    Starting,
    /// <summary>Mounted (or served in process) and its connection is running.</summary>
    Mounted,
    /// <summary>Mounting failed; see <see cref="FuseMountEntry.Error"/>.</summary>
    Failed,
    /// <summary>Shutdown is unmounting it.</summary>
    Unmounting,
    /// <summary>Its connection has ended (unmounted at shutdown, or unmounted/aborted from outside).</summary>
    Ended,
}

/// <summary>One mount or in-process filesystem configured through <see cref="FuseHostingExtensions"/>.</summary>
public sealed class FuseMountEntry
{
    private readonly TaskCompletionSource<FuseMount> _mounted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<InProcessFilesystem> _filesystem = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _unmounting;

    internal FuseMountEntry(string name) => Name = name;

    public string Name { get; }
    /// <summary>The mountpoint, or null for a filesystem served in process.</summary>
    public string? Mountpoint { get; private set; }
    /// <summary>True once a WithFuseMount/WithFuseFilesystem of this name started with the actor system.</summary>
    public bool Configured { get; private set; }
    /// <summary>Why mounting failed, or null.</summary>
    public Exception? Error { get; private set; }
    /// <summary>The mount once started, or null.</summary>
    public FuseMount? Mount { get; private set; }
    /// <summary>The in-process filesystem (for WithFuseFilesystem), or null.</summary>
    public InProcessFilesystem? Filesystem { get; private set; }

    public FuseMountState State =>
        Error is not null ? FuseMountState.Failed
        : Mount is null ? FuseMountState.Starting
        : Mount.Completion.IsCompleted ? FuseMountState.Ended
        : _unmounting ? FuseMountState.Unmounting
        : FuseMountState.Mounted;

    internal Task<FuseMount> Mounted => _mounted.Task;
    internal Task<InProcessFilesystem> FilesystemTask => _filesystem.Task;
    internal bool Unmounting => _unmounting;

    internal void Configure(string? mountpoint)
    {
        Mountpoint = mountpoint;
        Configured = true;
    }

    internal void SetMounted(FuseMount mount, InProcessFilesystem? filesystem = null)
    {
        Mount = mount;
        Filesystem = filesystem;
        _mounted.TrySetResult(mount);
        if (filesystem is not null) _filesystem.TrySetResult(filesystem);
        else _filesystem.TrySetException(new InvalidOperationException($"{Name} is a mount, not an in-process filesystem"));
    }

    internal void SetFailed(Exception error)
    {
        Error = error;
        _mounted.TrySetException(error);
        _filesystem.TrySetException(error);
    }

    internal void SetUnmounting()
    {
        _unmounting = true;
        Interlocked.MemoryBarrier(); // ordered before this side reads whether the mount has arrived (see AddUnmountTask)
    }
}

/// <summary>
/// The mounts and in-process filesystems of one actor system (an Akka extension, like Akka.Hosting's ActorRegistry):
/// <c>await FuseMountRegistry.For(system).GetAsync("name")</c> gives the <see cref="FuseMount"/> once mounted, and
/// <see cref="GetFilesystemAsync"/> the <see cref="InProcessFilesystem"/> (with its VfsClient) of a WithFuseFilesystem.
/// </summary>
public sealed class FuseMountRegistry : IExtension
{
    private readonly ConcurrentDictionary<string, FuseMountEntry> _entries = new(StringComparer.Ordinal);

    public static FuseMountRegistry For(ActorSystem system) => system.WithExtension<FuseMountRegistry, FuseMountRegistryProvider>();

    /// <summary>The mount named <paramref name="name"/> once it is mounted; fails with the mount's exception if it failed.</summary>
    public Task<FuseMount> GetAsync(string name, CancellationToken cancellationToken = default) =>
        Entry(name).Mounted.WaitAsync(cancellationToken);

    /// <summary>The in-process filesystem named <paramref name="name"/> once it serves (its <c>Client</c> and <c>Files</c> use it).</summary>
    public Task<InProcessFilesystem> GetFilesystemAsync(string name, CancellationToken cancellationToken = default) =>
        Entry(name).FilesystemTask.WaitAsync(cancellationToken);

    /// <summary>The entry of a configured mount, or false when none of that name was configured (or the actor system has not started).</summary>
    public bool TryGet(string name, out FuseMountEntry entry)
    {
        if (_entries.TryGetValue(name, out var e) && e.Configured)
        {
            entry = e;
            return true;
        }
        entry = null!;
        return false;
    }

    /// <summary>Every configured mount.</summary>
    public IReadOnlyList<FuseMountEntry> Entries => _entries.Values.Where(e => e.Configured).ToList();

    internal FuseMountEntry Entry(string name) => _entries.GetOrAdd(name, n => new FuseMountEntry(n));

    internal FuseMountEntry Configure(string name, string? mountpoint)
    {
        var entry = Entry(name);
        if (entry.Configured) throw new InvalidOperationException($"a FUSE mount named '{name}' is configured twice");
        entry.Configure(mountpoint);
        return entry;
    }
}

public sealed class FuseMountRegistryProvider : ExtensionIdProvider<FuseMountRegistry>
{
    public override FuseMountRegistry CreateExtension(ExtendedActorSystem system) => new();
}
