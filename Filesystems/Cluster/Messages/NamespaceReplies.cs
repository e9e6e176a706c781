using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

/// <summary>The namespace's one answer shape: an errno (0 = success) and what the command asked for.
/// <para>Answers to queries and mutations are stamped with the namespace's <see cref="Version"/> (how many changes it
/// has applied) and <see cref="Incarnation"/> (when this run of the entity started), so a node's metadata cache can
/// tell an answer from before a change it has already been told of. An accepted mutation's answer also carries what
/// it changed, as it is now (<see cref="Changed"/>, <see cref="ChangedEntries"/>), so the node that made the change
/// can answer from it at once (its <see cref="Invalidate"/> is cache-only and may come later). An answer with <see cref="Version"/> 0 is unstamped (a duplicate request's
/// first answer, kept in the journal).</para></summary>
[MessagePackObject]
public sealed record NsResult(
    [property: Key(0)] int Errno,
    [property: Key(1)] NodeAttr? Attr = null,
    [property: Key(2)] byte[]? Bytes = null,
    [property: Key(3)] DirEntry[]? Entries = null,
    [property: Key(4)] byte[][]? Names = null,
    [property: Key(5)] ulong Count = 0,
    [property: Key(6)] long[]? Chunks = null,
    [property: Key(7)] long Version = 0,
    [property: Key(8)] long Incarnation = 0,
    [property: Key(9)] NodeAttr[]? Changed = null,
    [property: Key(10)] ResolvedEntry[]? ChangedEntries = null) : IClusterFsMessage
{
    public static readonly NsResult Ok = new(0);
    public static NsResult Error(Engine.Protocol.Errno e) => new((int)e);
    [IgnoreMember] public bool IsOk => Errno == 0;
}

/// <summary>What changed, sent by the namespace to every subscribed node, so each tells its kernel
/// (FUSE_NOTIFY_INVAL_INODE / INVAL_ENTRY / DELETE) and drops it from its metadata cache.
/// <see cref="Version"/> is the change's, <see cref="Seq"/> numbers the messages sent to one node (1, 2, ... within
/// an <see cref="Incarnation"/>; <see cref="Subscribed"/> repeats the last), so a node sees one that never came.
/// <see cref="CacheOnly"/>: for the node's metadata cache, not its kernel: sent to the node that made the change (its
/// kernel learnt from the answer; this covers a change whose answer never came), and when a freed inode goes.</summary>
[MessagePackObject]
public sealed record Invalidate(
    [property: Key(0)] ulong[] Inodes,
    [property: Key(1)] EntryRef[] Entries,
    [property: Key(2)] DeleteRef[] Deletes,
    [property: Key(3)] long Version = 0,
    [property: Key(4)] long Incarnation = 0,
    [property: Key(5)] long Seq = 0,
    [property: Key(6)] bool CacheOnly = false) : IClusterFsMessage;

/// <summary>A name as it is after a change: <see cref="Ino"/> 0 when the directory no longer has it.</summary>
[MessagePackObject]
public sealed record ResolvedEntry([property: Key(0)] ulong Parent, [property: Key(1)] byte[] Name, [property: Key(2)] ulong Ino) : IClusterFsMessage;

[MessagePackObject]
public sealed record EntryRef([property: Key(0)] ulong Parent, [property: Key(1)] byte[] Name) : IClusterFsMessage;

[MessagePackObject]
public sealed record DeleteRef([property: Key(0)] ulong Parent, [property: Key(1)] ulong Child, [property: Key(2)] byte[] Name) : IClusterFsMessage;

/// <summary>The namespace's answer to <see cref="NsSubscribe"/>: its incarnation and version now, and the
/// <see cref="Invalidate.Seq"/> of the last invalidation it sent this node (0: none yet).</summary>
[MessagePackObject]
public sealed record Subscribed([property: Key(0)] string Volume, [property: Key(1)] long Incarnation = 0,
    [property: Key(2)] long Seq = 0, [property: Key(3)] long Version = 0) : IClusterFsMessage;
