using FuseActors.Integration.Tests.Cluster;

namespace FuseActors.PosixBehaviour;

/// <summary>The POSIX behaviour suite on the cluster filesystem: node B of a running three-node cluster (processes, one
/// SQLite store), through B's real mount. One cluster for the class; each test gets a fresh empty directory of B's
/// mount as its root (the suite only needs an empty directory it owns).</summary>
[Collection(FuseActors.Integration.Tests.Cluster.ClusterCollection.Name)]
public sealed class MountedClusterFsPosixBehaviourTests(ThreeNodeCluster cluster) : PosixBehaviourTests, IClassFixture<ThreeNodeCluster>
{
    protected override Task<IPosixDriver> StartAsync()
    {
        var root = Path.Combine(cluster.B.Path, "posix-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        return Task.FromResult<IPosixDriver>(new LibcPosixDriver(root));
    }
}
