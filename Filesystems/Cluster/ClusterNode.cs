using Akka.Actor;
using Akka.Configuration;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Mounting;
using FuseActors.Engine.Device;
using FuseActors.Filesystems.Cluster.Node;
using FuseActors.Filesystems.Cluster.Store;
using AkkaCluster = Akka.Cluster.Cluster;

namespace FuseActors.Filesystems.Cluster;

/// <summary>
/// One node of a cluster filesystem: its ActorSystem (joined to the cluster), its shard regions and its mount.
/// <see cref="StartAsync"/> returns once the node is Up in the cluster and the mount serves;
/// <see cref="StopAsync"/> unmounts and leaves the cluster gracefully (its shards move to the others first).
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly TaskCompletionSource _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _stopped;

    private ClusterNode(ActorSystem system, ClusterFsRegions regions, string name)
    {
        System = system;
        Regions = regions;
        Name = name;
    }

    public ActorSystem System { get; }
    public ClusterFsRegions Regions { get; }
    /// <summary>This node's name in the namespace: its address and its incarnation's uid (a restarted node is a new one).</summary>
    public string Name { get; }
    public FuseMount? Mount { get; private set; }
    /// <summary>Completes when this node is no longer a member (it left, or the others downed it).</summary>
    public Task Removed => _removed.Task;

    public static async Task<ClusterNode> StartAsync(ClusterNodeAddress address, ClusterStore store, Config application,
        string? mountpoint, TimeSpan joinTimeout, bool debug = false)
    {
        store.Prepare();
        var config = ClusterNodeConfig.Build(address, store, application);
        var system = ActorSystem.Create(ClusterNodeAddress.SystemName, store.ToActorSystemSetup(config));
        try
        {
            var cluster = AkkaCluster.Get(system);
            // The regions (and sharding's replicator) start before this node is Up: the coordinator's state updates
            // wait for every node's replicator, and one that only starts after Up stalled the first requests of a
            // freshly joined cluster for 10-25 s. Requests sent meanwhile are buffered by the region.
            var settings = ClusterFsSettings.FromConfig(config);
            // Meanwhile the store's first use (seconds, once per process) is done here, not in the first requests.
            var warmUp = StoreWarmUp.RunAsync(system, $"{settings.Volume}-{address.Host}:{address.Port}", TimeSpan.FromSeconds(30));
            var regions = ClusterFsRegions.Start(system, settings);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            if (await Task.WhenAny(up.Task, Task.Delay(joinTimeout)) != up.Task)
                throw new TimeoutException($"this node did not become Up in the cluster within {joinTimeout} (seeds: {string.Join(", ", address.SeedAddresses)})");
            await warmUp;
            var name = $"{address.Host}:{address.Port}#{cluster.SelfUniqueAddress.Uid}";
            var node = new ClusterNode(system, regions, name);
            cluster.RegisterOnMemberRemoved(() => node._removed.TrySetResult());
            if (mountpoint is not null)
            {
                var connection = ConnectionSettings.FromConfig(config);
                if (debug) connection = connection with { Debug = true };
                var options = MountOptionsConfig.FromConfig(config, "cluster:" + settings.Volume);
                node.Mount = await FuseMount.MountAsync(system, ClusterFs.Props(settings, regions, name), mountpoint, options, connection, "mount");
                await node.Mount.Ready;
            }
            return node;
        }
        catch
        {
            await system.Terminate();
            throw;
        }
    }

    /// <summary>Unmounts (waiting up to <paramref name="unmountGrace"/> for the kernel), leaves the cluster and stops.</summary>
    public async Task StopAsync(TimeSpan unmountGrace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        if (Mount is { } mount) await mount.UnmountAsync(unmountGrace);
        var cluster = AkkaCluster.Get(System);
        if (!_removed.Task.IsCompleted && !cluster.IsTerminated)
        {
            var leave = cluster.LeaveAsync();
            await Task.WhenAny(leave, Task.Delay(TimeSpan.FromSeconds(20)));
        }
        await System.Terminate();
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.FromSeconds(5));
}
