using System.Text;
using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests.Cluster;

/// <summary>
/// Three cluster filesystem nodes as processes on one store (a temporary SQLite file unless a subclass says otherwise):
/// A forms the cluster, B and C join it with A as their seed. Meant as an xUnit class fixture (one cluster per test
/// class). Disposing stops every node it ever started (SIGTERM, then SIGKILL), lazily unmounts every mountpoint and
/// deletes the temporary files: no process and no mount outlives it, whatever the tests did.
/// </summary>
public class ThreeNodeCluster : IAsyncLifetime
{
    private readonly List<ClusterNodeProcess> _all = [];
    private readonly ClusterNodeProcess?[] _nodes = new ClusterNodeProcess?[3];
    private string? _storeDirectory;

    public static readonly string[] Names = ["A", "B", "C"];

    /// <summary>The <c>--store</c> argument all nodes use.</summary>
    public string Store { get; private set; } = "";

    public ClusterNodeProcess A => Node(0);
    public ClusterNodeProcess B => Node(1);
    public ClusterNodeProcess C => Node(2);
    public IEnumerable<ClusterNodeProcess> Nodes => _nodes.OfType<ClusterNodeProcess>();

    private ClusterNodeProcess Node(int i) => _nodes[i] ?? throw new InvalidOperationException($"node {Names[i]} is not running");

    /// <summary>The store for the nodes: a SQLite file in a temporary directory. Subclasses start a server here.</summary>
    protected virtual Task<string> CreateStoreAsync()
    {
        _storeDirectory = Directory.CreateTempSubdirectory("fuseactors-cluster-store-").FullName;
        return Task.FromResult("sqlite:" + Path.Combine(_storeDirectory, "store.db"));
    }

    /// <summary>Stops what <see cref="CreateStoreAsync"/> started (after every node is gone).</summary>
    protected virtual ValueTask DisposeStoreAsync()
    {
        if (_storeDirectory is not null)
        {
            try { Directory.Delete(_storeDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return ValueTask.CompletedTask;
    }

    public async Task InitializeAsync()
    {
        try
        {
            Store = await CreateStoreAsync();
            await StartAllAsync();
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the three nodes from nothing (after <see cref="StopAllAsync"/>): A alone, then B and C seeded with A.</summary>
    public async Task StartAllAsync()
    {
        if (Nodes.Any()) throw new InvalidOperationException("nodes are still running");
        await StartAsync(0, []);
        await Task.WhenAll(StartAsync(1, [A.Address]), StartAsync(2, [A.Address]));
        await WarmUpAsync();
    }

    /// <summary>
    /// Each node writes a file (one per node, the same names every time) and reads the others'. A node prints its ready
    /// line once it is Up and its mount serves, but for some seconds after a join the shard coordinators' state updates
    /// (which need every node's acknowledgement) can stall, and with them the first use of a new shard: the tests
    /// should measure the filesystem, not that settling.
    /// </summary>
    public async Task WarmUpAsync()
    {
        var nodes = Nodes.ToList();
        await Task.WhenAll(nodes.Select(n => Shell.OkAsync($"echo {n.Name} > {n.Path}/.warmup-{n.Name}", timeout: TimeSpan.FromSeconds(90))));
        foreach (var n in nodes)
        {
            var names = string.Join(' ', nodes.Select(o => $".warmup-{o.Name}"));
            var expected = string.Concat(nodes.Select(o => o.Name + "\n"));
            await Shell.OkAsync($"for i in $(seq 1 600); do [ \"$(cat {names} 2>/dev/null)\" = \"$(printf '{expected}')\" ] && exit 0; sleep 0.1; done; exit 1",
                n.Path, TimeSpan.FromSeconds(90));
        }
    }

    private async Task StartAsync(int i, string[] seeds)
    {
        var node = await ClusterNodeProcess.StartAsync(Names[i], Store, seeds);
        lock (_all) _all.Add(node);
        _nodes[i] = node;
    }

    private int IndexOf(ClusterNodeProcess node)
    {
        var i = Array.IndexOf(_nodes, node);
        if (i < 0) throw new ArgumentException($"{node} is not a current node of this cluster");
        return i;
    }

    /// <summary>SIGKILL of a node: it is gone at once, its mount stays behind dead (ENOTCONN) until <see cref="RestartAsync"/>.</summary>
    public void Kill9(ClusterNodeProcess node)
    {
        IndexOf(node);
        node.Kill9();
    }

    /// <summary>Replaces a node (stopped gracefully first unless it is already dead, its old mountpoint lazily unmounted)
    /// with a new process on a new port and mountpoint, seeded with the nodes still running.</summary>
    public async Task<ClusterNodeProcess> RestartAsync(ClusterNodeProcess node)
    {
        var i = IndexOf(node);
        await node.StopAsync();
        _nodes[i] = null;
        var seeds = Nodes.Where(n => !n.HasExited).Select(n => n.Address).ToArray();
        await StartAsync(i, seeds);
        await WarmUpAsync();
        return _nodes[i]!;
    }

    /// <summary>Makes sure all three nodes run (restarting any that died), so a test starts from a healthy cluster
    /// whatever the previous test did.</summary>
    public async Task EnsureAllRunningAsync()
    {
        if (Nodes.All(n => n.HasExited))
        {
            await StopAllAsync();
            await StartAllAsync();
            return;
        }
        for (var i = 0; i < 3; i++)
        {
            if (_nodes[i] is { HasExited: false }) continue;
            if (_nodes[i] is { } dead)
            {
                await RestartAsync(dead);
            }
            else
            {
                await StartAsync(i, Nodes.Where(n => !n.HasExited).Select(n => n.Address).ToArray());
            }
        }
    }

    /// <summary>Stops all nodes gracefully (all at once) and returns their exit codes by name.</summary>
    public async Task<Dictionary<string, int>> StopAllAsync()
    {
        var running = _nodes.Select((n, i) => (n, i)).Where(x => x.n is not null).ToList();
        var codes = await Task.WhenAll(running.Select(async x => (Names[x.i], await x.n!.StopAsync())));
        for (var i = 0; i < 3; i++) _nodes[i] = null;
        return codes.ToDictionary(c => c.Item1, c => c.Item2);
    }

    /// <summary>The last lines of every node's log (including nodes already replaced), for a failure message.</summary>
    public string Logs(int linesPerNode = 150)
    {
        var sb = new StringBuilder();
        lock (_all)
        {
            foreach (var n in _all)
            {
                sb.AppendLine($"===== {n} (seeds [{string.Join(", ", n.Seeds)}]){(n.HasExited ? $" exited {n.ExitCode}" : "")}");
                sb.AppendLine(n.Tail(linesPerNode));
            }
        }
        return sb.ToString();
    }

    public async Task DisposeAsync()
    {
        List<ClusterNodeProcess> all;
        lock (_all) all = [.. _all];
        try
        {
            await Task.WhenAll(all.Select(n => n.DisposeAsync().AsTask()));
        }
        finally
        {
            foreach (var n in all) n.Cleanup();
            for (var i = 0; i < 3; i++) _nodes[i] = null;
            await DisposeStoreAsync();
        }
    }
}
