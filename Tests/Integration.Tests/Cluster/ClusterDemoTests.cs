using FuseActors.Integration.Tests.Support;

namespace FuseActors.Integration.Tests.Cluster;

/// <summary>The README's one command for newcomers: <c>fuseactors cluster demo DIR</c> starts three nodes mounted at
/// DIR/a, DIR/b and DIR/c on one SQLite store, a file written through one is read through another, and SIGTERM stops
/// all three, leaving no mount and no process.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterDemoTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "fuseactors.dll");

    [Fact]
    public async Task Cluster_demo_mounts_three_nodes_that_share_one_filesystem_and_stops_on_SIGTERM()
    {
        MountedFilesystem.RequireFuse();
        var dir = Directory.CreateTempSubdirectory("fuseactors-demo-").FullName;
        try
        {
            var r = await Shell.RunAsync($$"""
                env --default-signal=INT,TERM dotnet {{Cli}} cluster demo {{dir}} > {{dir}}.out 2>&1 &
                pid=$!
                for i in $(seq 1 1200); do grep -q "cluster demo: one filesystem" {{dir}}.out && break; kill -0 $pid || break; sleep 0.1; done
                grep -q "cluster demo: one filesystem" {{dir}}.out || { cat {{dir}}.out; kill -9 $pid; exit 3; }
                echo "written on a" > {{dir}}/a/hello
                for i in $(seq 1 100); do [ "$(cat {{dir}}/c/hello 2>/dev/null)" = "written on a" ] && break; sleep 0.1; done
                seen=$(cat {{dir}}/c/hello)
                kill -TERM $pid
                wait $pid; code=$?
                echo "seen=$seen"
                echo "exit=$code"
                """, timeout: TimeSpan.FromSeconds(240));
            Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr + File.ReadAllText(dir + ".out"));
            Assert.Contains("seen=written on a", r.Stdout);
            Assert.Contains("exit=0", r.Stdout);
            Assert.DoesNotContain(dir, File.ReadAllText("/proc/mounts"));
        }
        finally
        {
            foreach (var n in new[] { "a", "b", "c" }) FuseActors.Engine.Device.FuseMounter.Unmount(Path.Combine(dir, n));
            File.Delete(dir + ".out");
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
