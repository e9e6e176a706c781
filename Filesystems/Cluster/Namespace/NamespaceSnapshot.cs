using FuseActors.Filesystems.Cluster.Messages;
using MessagePack;

namespace FuseActors.Filesystems.Cluster.Namespace;

/// <summary>The whole namespace at one journal position: every inode with its names, target and xattrs.</summary>
[MessagePackObject]
public sealed record NamespaceSnapshot([property: Key(0)] ulong NextIno, [property: Key(1)] InodeRecord[] Inodes,
    [property: Key(2)] AppliedRequest[]? Applied = null) : IClusterFsMessage;

/// <summary>The answer to a numbered mutation, remembered so that the same request sent again gets it again.</summary>
[MessagePackObject]
public sealed record AppliedRequest([property: Key(0)] string Origin, [property: Key(1)] ulong RequestId, [property: Key(2)] NsResult Result)
    : IClusterFsMessage;

[MessagePackObject]
public sealed record InodeRecord(
    [property: Key(0)] NodeAttr Attr,
    [property: Key(1)] ulong Parent,
    [property: Key(2)] byte[]? Target,
    [property: Key(3)] DirEntry[]? Entries,
    [property: Key(4)] byte[][]? XattrNames,
    [property: Key(5)] byte[][]? XattrValues,
    [property: Key(6)] long[]? Chunks,
    [property: Key(7)] ulong NextCookie = 0) : IClusterFsMessage;
