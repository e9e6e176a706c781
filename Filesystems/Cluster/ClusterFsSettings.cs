using Akka.Configuration;

namespace FuseActors.Filesystems.Cluster;

/// <summary>The cluster filesystem's tunables (<c>fuseactors.cluster</c> in akka.hocon).</summary>
public sealed record ClusterFsSettings
{
    /// <summary>The namespace's name: nodes that mount the same volume on the same store share one filesystem.</summary>
    public string Volume { get; init; } = "default";
    /// <summary>Bytes per data chunk entity. 1 MiB, chosen by measurement against 256 KiB and 4 MiB (bench/RESULTS.md,
    /// "Chunk size"): it wrote fastest, since the kernel's largest WRITE (max_write, 1 MiB) is then one chunk event;
    /// 256 KiB read faster (four chunks in parallel) but writes four events per WRITE.</summary>
    public int ChunkSize { get; init; } = 1 << 20;
    /// <summary>Shards the chunk entities are spread over.</summary>
    public int ChunkShards { get; init; } = 64;
    /// <summary>A namespace snapshot every this many events (then older events are deleted).</summary>
    public int SnapshotEvery { get; init; } = 1000;
    /// <summary>After the namespace recovers, how long nodes have to re-announce their open files before unlinked
    /// files nobody announced are freed.</summary>
    public TimeSpan OrphanGrace { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a node waits for the namespace or a chunk before answering EIO.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(40);
    /// <summary>How long one try of a repeatable request waits before it is sent again (its entity may have moved
    /// off a dead node).</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(4);
    /// <summary>How often a node re-subscribes to the namespace (and so finds it again after it moved).</summary>
    public TimeSpan SubscribeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Attributes and names a node keeps to answer LOOKUP and GETATTR itself (0: none, every one asks the
    /// namespace). Kept exact by the namespace's invalidations (see <see cref="Node.NodeMetadataCache"/>).</summary>
    public int NodeCacheEntries { get; init; } = 200_000;

    public static ClusterFsSettings FromConfig(Config config)
    {
        var c = config.GetConfig("fuseactors.cluster") ?? Config.Empty;
        var d = new ClusterFsSettings();
        return new ClusterFsSettings
        {
            Volume = c.GetString("volume", d.Volume),
            ChunkSize = (int)(c.GetByteSize("chunk-size") ?? d.ChunkSize),
            ChunkShards = c.GetInt("chunk-shards", d.ChunkShards),
            SnapshotEvery = c.GetInt("snapshot-every", d.SnapshotEvery),
            OrphanGrace = c.GetTimeSpan("orphan-grace", d.OrphanGrace, allowInfinite: false),
            RequestTimeout = c.GetTimeSpan("request-timeout", d.RequestTimeout, allowInfinite: false),
            RetryAfter = c.GetTimeSpan("retry-after", d.RetryAfter, allowInfinite: false),
            SubscribeInterval = c.GetTimeSpan("subscribe-interval", d.SubscribeInterval, allowInfinite: false),
            NodeCacheEntries = c.GetInt("node-cache-entries", d.NodeCacheEntries),
        };
    }
}
