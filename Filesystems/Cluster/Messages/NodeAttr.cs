using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

/// <summary>An inode's attributes as the namespace holds them (times in nanoseconds since the epoch).</summary>
[MessagePackObject]
public sealed record NodeAttr(
    [property: Key(0)] ulong Ino,
    [property: Key(1)] uint Mode,
    [property: Key(2)] uint Nlink,
    [property: Key(3)] uint Uid,
    [property: Key(4)] uint Gid,
    [property: Key(5)] uint Rdev,
    [property: Key(6)] ulong Size,
    [property: Key(7)] long AtimeNs,
    [property: Key(8)] long MtimeNs,
    [property: Key(9)] long CtimeNs) : IClusterFsMessage;

/// <summary>One name in a directory listing, with its cookie: a number given when the name entered the directory
/// and never reused there, so a listing continued from a cookie neither skips nor repeats a name.</summary>
[MessagePackObject]
public sealed record DirEntry([property: Key(0)] byte[] Name, [property: Key(1)] ulong Ino, [property: Key(2)] uint Mode,
    [property: Key(3)] ulong Cookie = 0) : IClusterFsMessage;
