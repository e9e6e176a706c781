using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

/// <summary>The namespace's one answer shape: an errno (0 = success) and what the command asked for.</summary>
[MessagePackObject]
public sealed record NsResult(
    [property: Key(0)] int Errno,
    [property: Key(1)] NodeAttr? Attr = null,
    [property: Key(2)] byte[]? Bytes = null,
    [property: Key(3)] DirEntry[]? Entries = null,
    [property: Key(4)] byte[][]? Names = null,
    [property: Key(5)] ulong Count = 0,
    [property: Key(6)] long[]? Chunks = null) : IClusterFsMessage
{
    public static readonly NsResult Ok = new(0);
    public static NsResult Error(Engine.Protocol.Errno e) => new((int)e);
    [IgnoreMember] public bool IsOk => Errno == 0;
}

/// <summary>What changed, sent by the namespace to every subscribed node but the one that made the change, so each
/// tells its kernel (FUSE_NOTIFY_INVAL_INODE / INVAL_ENTRY / DELETE).</summary>
[MessagePackObject]
public sealed record Invalidate(
    [property: Key(0)] ulong[] Inodes,
    [property: Key(1)] EntryRef[] Entries,
    [property: Key(2)] DeleteRef[] Deletes) : IClusterFsMessage;

[MessagePackObject]
public sealed record EntryRef([property: Key(0)] ulong Parent, [property: Key(1)] byte[] Name) : IClusterFsMessage;

[MessagePackObject]
public sealed record DeleteRef([property: Key(0)] ulong Parent, [property: Key(1)] ulong Child, [property: Key(2)] byte[] Name) : IClusterFsMessage;

/// <summary>The namespace's answer to <see cref="NsSubscribe"/>.</summary>
[MessagePackObject]
public sealed record Subscribed([property: Key(0)] string Volume) : IClusterFsMessage;
