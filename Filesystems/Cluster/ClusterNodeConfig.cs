using Akka.Configuration;

namespace FuseActors.Filesystems.Cluster;

/// <summary>Where a node listens and whom it joins.</summary>
public sealed record ClusterNodeAddress(string Host, int Port, IReadOnlyList<string> Seeds)
{
    public const string SystemName = "fuseactors";

    /// <summary>The seed nodes' Akka addresses; no seeds: this node forms a new cluster with itself.</summary>
    public IEnumerable<string> SeedAddresses => (Seeds.Count == 0 ? [$"{Host}:{Port}"] : Seeds).Select(s => $"akka.tcp://{SystemName}@{s}");
}

/// <summary>
/// The Akka configuration of a cluster filesystem node: Akka.Remote on the node's address, Akka.Cluster with the
/// split-brain resolver, the cluster filesystem's serializer bound to its messages, remote frames large enough for
/// a whole chunk, and the store (journal and snapshots). The caller's configuration (akka.hocon, --config) comes
/// first and wins for everything it sets; the address and seeds are the command line's.
/// </summary>
public static class ClusterNodeConfig
{
    public static Config Build(ClusterNodeAddress address, Store.ClusterStore store, Config application)
    {
        var settings = ClusterFsSettings.FromConfig(application);
        long frame = Math.Max(4L << 20, 2L * settings.ChunkSize + (64 << 10));
        string seeds = string.Join(", ", address.SeedAddresses.Select(s => "\"" + s + "\""));
        var node = ConfigurationFactory.ParseString($$"""
            akka.remote.dot-netty.tcp {
              hostname = "{{address.Host}}"
              port = {{address.Port}}
              maximum-frame-size = {{frame}}b
              send-buffer-size = {{frame * 2}}b
              receive-buffer-size = {{frame * 2}}b
            }
            akka.cluster.seed-nodes = [ {{seeds}} ]
            """);
        var fixedPart = ConfigurationFactory.ParseString("""
            akka.actor.provider = cluster
            akka.actor.serializers.fuseactors-cluster = "FuseActors.Filesystems.Cluster.Serialization.ClusterFsSerializer, FuseActors.Filesystems.Cluster"
            akka.actor.serialization-bindings {
              "FuseActors.Filesystems.Cluster.Messages.IClusterFsMessage, FuseActors.Filesystems.Cluster" = fuseactors-cluster
            }
            akka.cluster.downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            """);
        var defaults = ConfigurationFactory.ParseString("""
            # Write each remote message at once: DotNetty's batching holds small messages up to its flush interval
            # when traffic is light, which is most of a filesystem's life (measured: ~13 ms per create across nodes
            # with it, against ~1 ms on the node holding the namespace).
            akka.remote.dot-netty.tcp.batching.enabled = false
            akka.cluster {
              split-brain-resolver {
                active-strategy = keep-majority
                stable-after = 5s
              }
              failure-detector.acceptable-heartbeat-pause = 3s
            }
            # Shard placement lives in memory, replicated between the nodes (not in the journal): a full restart
            # starts placement afresh, while the entities' own state comes back from the store.
            akka.cluster.sharding.state-store-mode = ddata
            akka.cluster.sharding.remember-entities = off
            akka.coordinated-shutdown.exit-clr = off
            akka.coordinated-shutdown.run-by-clr-shutdown-hook = off
            """);
        return node.WithFallback(fixedPart).WithFallback(application).WithFallback(store.ToConfig()).WithFallback(defaults)
            .WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration)
            // Sharding's and distributed data's serializers must be known before the first message from a node that
            // joins: they are otherwise added only when ClusterSharding starts, after this node is Up.
            .WithFallback(Akka.Cluster.Sharding.ClusterSharding.DefaultConfig())
            .WithFallback(Akka.Cluster.Tools.Singleton.ClusterSingleton.DefaultConfig())
            .WithFallback(Akka.DistributedData.DistributedData.DefaultConfig());
    }
}
