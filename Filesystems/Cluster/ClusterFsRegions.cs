using Akka.Actor;
using Akka.Cluster.Sharding;
using FuseActors.Filesystems.Cluster.Data;
using FuseActors.Filesystems.Cluster.Messages;
using FuseActors.Filesystems.Cluster.Namespace;

namespace FuseActors.Filesystems.Cluster;

/// <summary>The two shard regions of the cluster filesystem on one node: the namespace (one entity per volume)
/// and the data chunks (one entity per chunk of a file, spread over <c>chunk-shards</c> shards).</summary>
public sealed class ClusterFsRegions
{
    public const string NamespaceTypeName = "fuseactors-namespace";
    public const string ChunkTypeName = "fuseactors-chunk";

    public required IActorRef Namespace { get; init; }
    public required IActorRef Chunks { get; init; }

    public static ClusterFsRegions Start(ActorSystem system, ClusterFsSettings settings)
    {
        var sharding = ClusterSharding.Get(system);
        var shardingSettings = ClusterShardingSettings.Create(system);
        var chunks = sharding.Start(ChunkTypeName, id => ChunkEntity.Props(id, settings.ChunkSize), shardingSettings,
            new ChunkExtractor(settings.ChunkShards));
        // The namespace entity holds live nodes' opens and locks: it is never passivated for being idle.
        var ns = sharding.Start(NamespaceTypeName, id => NamespaceEntity.Props(id, settings, chunks),
            shardingSettings.WithPassivateIdleAfter(TimeSpan.Zero),
            new NamespaceExtractor());
        return new ClusterFsRegions { Namespace = ns, Chunks = chunks };
    }

    /// <summary>One entity (and one shard) per volume.</summary>
    public sealed class NamespaceExtractor : IMessageExtractor
    {
        public string? EntityId(object message) => message is INamespaceMessage m ? m.Volume : null;
        public object EntityMessage(object message) => message;
        public string ShardId(object message) => message is INamespaceMessage m ? "ns-" + m.Volume : "ns";
        public string ShardId(string entityId, object? messageHint = null) => "ns-" + entityId;
    }

    /// <summary>One entity per chunk; shards by the chunk's hash, so one file's chunks spread over the nodes.</summary>
    public sealed class ChunkExtractor(int shards) : IMessageExtractor
    {
        public string? EntityId(object message) => message is IChunkMessage m ? ChunkEntity.EntityId(m.Volume, m.Ino, m.Index) : null;
        public object EntityMessage(object message) => message;
        public string ShardId(object message) => message is IChunkMessage m ? Shard(m.Ino, m.Index) : "0";
        public string ShardId(string entityId, object? messageHint = null)
        {
            var parts = entityId.Split('.');
            return parts.Length >= 3 && ulong.TryParse(parts[^2], out var ino) && long.TryParse(parts[^1], out var index)
                ? Shard(ino, index) : "0";
        }

        private string Shard(ulong ino, long index) => ((ino * 31 + (ulong)index) % (ulong)shards).ToString();
    }
}
