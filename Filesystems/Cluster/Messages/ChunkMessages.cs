using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

// One file's data lives in chunks of a fixed size (fuseactors.cluster.chunk-size), each its own sharded,
// persistent entity named "<ino>.<index>". Offsets here are within the chunk.

/// <summary>Writes <see cref="Data"/> at <see cref="Offset"/>; answered with a <see cref="ChunkResult"/> once durable.</summary>
[MessagePackObject]
public sealed record ChunkWrite([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] long Index,
    [property: Key(3)] int Offset, [property: Key(4)] byte[] Data) : IChunkMessage;

/// <summary>Reads up to <see cref="Length"/> bytes at <see cref="Offset"/>; a shorter answer means the rest is a hole.</summary>
[MessagePackObject]
public sealed record ChunkRead([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] long Index,
    [property: Key(3)] int Offset, [property: Key(4)] int Length) : IChunkMessage;

/// <summary>Cuts the chunk's data to <see cref="Length"/> bytes (0 empties it); durable before answered.</summary>
[MessagePackObject]
public sealed record ChunkTruncate([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] long Index,
    [property: Key(3)] int Length) : IChunkMessage;

/// <summary>The file is gone: delete the chunk's journal and snapshots and stop. Not answered.</summary>
[MessagePackObject]
public sealed record ChunkPurge([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] long Index) : IChunkMessage;

/// <summary>Answer to chunk commands: errno, and for a read the bytes (the chunk's data length in <see cref="Length"/>).</summary>
[MessagePackObject]
public sealed record ChunkResult([property: Key(0)] int Errno, [property: Key(1)] byte[]? Data, [property: Key(2)] int Length) : IClusterFsMessage;

/// <summary>Journal events of a chunk.</summary>
[MessagePackObject]
public sealed record ChunkWritten([property: Key(0)] int Offset, [property: Key(1)] byte[] Data) : IClusterFsMessage;

[MessagePackObject]
public sealed record ChunkTruncated([property: Key(0)] int Length) : IClusterFsMessage;

[MessagePackObject]
public sealed record ChunkSnapshot([property: Key(0)] byte[] Data) : IClusterFsMessage;
