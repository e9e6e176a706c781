using Akka.Configuration;
using FuseActors.Engine.Device;
using FuseActors.Filesystems.Cluster;
using FuseActors.Filesystems.Cluster.Store;
using Serilog;

namespace FuseActors.Cli;

/// <summary>
/// <c>fuseactors mount cluster MOUNTPOINT --port PORT [--host HOST] [--seed HOST:PORT]... [--store ...]</c>: one node of
/// a cluster filesystem. Joins the seeds (none: forms a new cluster with itself), mounts, prints one line once this
/// node is Up and the mount serves; on SIGINT, SIGTERM or SIGHUP unmounts, leaves the cluster and exits 0. A node
/// the others remove (downed as unreachable), or whose connection was aborted or failed, unmounts and exits 1.
/// </summary>
internal static class ClusterCommand
{
    public static async Task<int> RunAsync(CliArguments cli, Config config, string mountpoint)
    {
        ClusterStore store;
        try
        {
            store = cli.Store is null ? ClusterStore.Default : ClusterStore.Parse(cli.Store);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            return 2;
        }
        var address = new ClusterNodeAddress(cli.Host, cli.Port!.Value, cli.Seeds);
        var settings = ClusterFsSettings.FromConfig(config);
        var grace = config.GetTimeSpan("fuseactors.mount.unmount-grace", TimeSpan.FromSeconds(5), allowInfinite: false);
        var joinTimeout = config.GetTimeSpan("fuseactors.cluster.join-timeout", TimeSpan.FromSeconds(120), allowInfinite: false);

        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var signals = StopSignals.Register(stop);

        Log.Information("cluster node {Host}:{Port} joining {Seeds}; store {Store}", address.Host, address.Port,
            string.Join(", ", address.SeedAddresses), store.Describe());
        ClusterNode node;
        try
        {
            var starting = ClusterNode.StartAsync(address, store, config, mountpoint, joinTimeout, cli.Debug);
            if (await Task.WhenAny(starting, stop.Task) != starting)
            {
                Log.Information("stopped while joining");
                try { await (await starting).StopAsync(grace); } catch { }
                return 0;
            }
            node = await starting;
        }
        catch (Exception e) when (e is TimeoutException or FuseDeviceException or ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"fuseactors: {e.Message}");
            return 1;
        }

        var ready = await node.Mount!.Ready;
        Program.Stdout.WriteLine($"fuseactors: cluster volume {settings.Volume} mounted at {mountpoint} (node {address.Host}:{address.Port}, " +
                          $"store {store.Describe()}, FUSE 7.{ready.KernelMinor})");

        using var statsStop = new CancellationTokenSource();
        var statsLines = cli.Parsed?.GetValue(Program.StatsOption) is { } every
            ? StatsCommand.ReportWhileMountedAsync(node.Mount, TimeSpan.FromSeconds(every), statsStop.Token)
            : Task.CompletedTask;
        var ended = await Task.WhenAny(stop.Task, node.Mount.Completion, node.Removed);
        statsStop.Cancel();
        await statsLines;
        int exit = 0;
        if (ended == node.Removed)
        {
            Log.Error("this node was removed from the cluster; unmounting");
            exit = 1;
        }
        else if (ended == node.Mount.Completion && node.Mount.EndedBecause is { IsFailure: true } end)
        {
            Log.Error("the connection of {Mountpoint} ended by itself: {Reason}; leaving the cluster", mountpoint, end.Reason);
            exit = 1;
        }
        else if (ended == node.Mount.Completion) Log.Information("{Mountpoint} was unmounted; leaving the cluster", mountpoint);
        else Log.Information("unmounting {Mountpoint} and leaving the cluster", mountpoint);
        await node.StopAsync(grace);
        Log.Information("stopped");
        return exit;
    }
}
