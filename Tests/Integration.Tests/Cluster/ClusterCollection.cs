namespace FuseActors.Integration.Tests.Cluster;

/// <summary>
/// The test classes that start cluster nodes run one after another, not at once: each starts three node processes
/// (plus a PostgreSQL server for one), and four such clusters at once on two vCPUs starve the nodes' heartbeats and
/// push requests past their retry interval, which tests the machine rather than the filesystem.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection
{
    public const string Name = "cluster nodes";
}
