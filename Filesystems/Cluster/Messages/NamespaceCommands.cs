using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

// Commands to the namespace entity. Each is answered with an NsResult. Queries change nothing; mutations are
// persisted before they are answered.

// ---------------------------------------------------------------- queries

[MessagePackObject]
public sealed record NsLookup([property: Key(0)] string Volume, [property: Key(1)] ulong Parent, [property: Key(2)] byte[] Name) : INamespaceMessage;

[MessagePackObject]
public sealed record NsGetAttr([property: Key(0)] string Volume, [property: Key(1)] ulong Ino) : INamespaceMessage;

[MessagePackObject]
public sealed record NsReadDir([property: Key(0)] string Volume, [property: Key(1)] ulong Ino) : INamespaceMessage;

[MessagePackObject]
public sealed record NsReadLink([property: Key(0)] string Volume, [property: Key(1)] ulong Ino) : INamespaceMessage;

[MessagePackObject]
public sealed record NsGetXattr([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] byte[] Name) : INamespaceMessage;

[MessagePackObject]
public sealed record NsListXattr([property: Key(0)] string Volume, [property: Key(1)] ulong Ino) : INamespaceMessage;

/// <summary>Which chunks of <see cref="Ino"/> from index <see cref="From"/> on hold data (answered in <see cref="NsResult.Chunks"/>).</summary>
[MessagePackObject]
public sealed record NsChunks([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] long From) : INamespaceMessage;

[MessagePackObject]
public sealed record NsStatFs([property: Key(0)] string Volume) : INamespaceMessage;

// ---------------------------------------------------------------- mutations (persisted as they are)

/// <summary>MKNOD, MKDIR, SYMLINK, CREATE; with <see cref="Unnamed"/> O_TMPFILE (no name, link count 0). <see cref="Open"/>
/// (CREATE, O_TMPFILE): the new file is open on <see cref="Origin"/> from the start (one round trip, not two).</summary>
[MessagePackObject]
public sealed record NsMakeNode(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Parent, [property: Key(3)] byte[] Name,
    [property: Key(4)] uint Mode, [property: Key(5)] uint Uid, [property: Key(6)] uint Gid, [property: Key(7)] uint Rdev,
    [property: Key(8)] byte[]? Target, [property: Key(9)] bool Unnamed, [property: Key(10)] string Origin,
    [property: Key(11)] bool Open, [property: Key(12)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

[MessagePackObject]
public sealed record NsLink(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] ulong NewParent,
    [property: Key(4)] byte[] NewName, [property: Key(5)] string Origin, [property: Key(6)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>UNLINK (<see cref="Directory"/> false) and RMDIR (true).</summary>
[MessagePackObject]
public sealed record NsRemove(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Parent, [property: Key(3)] byte[] Name,
    [property: Key(4)] bool Directory, [property: Key(5)] string Origin, [property: Key(6)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>RENAME and RENAME2 (<see cref="Flags"/>: renameat2's NOREPLACE 1, EXCHANGE 2, WHITEOUT 4).</summary>
[MessagePackObject]
public sealed record NsRename(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Parent, [property: Key(3)] byte[] Name,
    [property: Key(4)] ulong NewParent, [property: Key(5)] byte[] NewName, [property: Key(6)] uint Flags,
    [property: Key(7)] uint Uid, [property: Key(8)] uint Gid, [property: Key(9)] string Origin, [property: Key(10)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>SETATTR: <see cref="Valid"/> holds FATTR_* bits; times in nanoseconds since the epoch.</summary>
[MessagePackObject]
public sealed record NsSetAttr(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] uint Valid,
    [property: Key(4)] uint Mode, [property: Key(5)] uint Uid, [property: Key(6)] uint Gid, [property: Key(7)] ulong Size,
    [property: Key(8)] long AtimeNs, [property: Key(9)] long MtimeNs, [property: Key(10)] long CtimeNs, [property: Key(11)] string Origin) : INamespaceMutation
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>Data from <see cref="Offset"/> up to <see cref="End"/> is durable in the chunks: the size grows to it,
/// mtime moves, the chunks it touched are recorded (so truncate and free visit only chunks that hold data), and a
/// write by an unprivileged writer drops set-user-id (<see cref="KillSuid"/>).</summary>
[MessagePackObject]
public sealed record NsWritten(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] ulong End,
    [property: Key(4)] bool KillSuid, [property: Key(5)] string Origin, [property: Key(6)] ulong Offset) : INamespaceMutation
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>An O_APPEND write of <see cref="Length"/> bytes: the namespace picks its offset (the size now) and grows
/// the size past it in one step, so appends from several nodes never overwrite each other. Answered with the new
/// attributes: the write goes at <c>Size - Length</c>.</summary>
[MessagePackObject]
public sealed record NsAppend(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] ulong Length,
    [property: Key(4)] string Origin, [property: Key(5)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>SETXATTR (<see cref="Flags"/>: XATTR_CREATE 1, XATTR_REPLACE 2).</summary>
[MessagePackObject]
public sealed record NsSetXattr(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] byte[] Name,
    [property: Key(4)] byte[] Value, [property: Key(5)] uint Flags, [property: Key(6)] string Origin, [property: Key(7)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

[MessagePackObject]
public sealed record NsRemoveXattr(
    [property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino, [property: Key(3)] byte[] Name,
    [property: Key(4)] string Origin, [property: Key(5)] ulong RequestId = 0) : INamespaceMutation, IDeduplicated
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

/// <summary>Frees an inode that has no name left and that no node holds open (the namespace decides and persists it).</summary>
[MessagePackObject]
public sealed record NsFree([property: Key(0)] string Volume, [property: Key(1)] long Time, [property: Key(2)] ulong Ino) : INamespaceMutation
{
    public INamespaceMutation WithTime(long time) => this with { Time = time };
}

// ---------------------------------------------------------------- a node's session (not persisted)

/// <summary>A node's filesystem actor says it is alive (again, periodically: the entity may have moved) and what it
/// holds: its open files and its locks. The sender is the subscriber; it gets <see cref="Invalidate"/> messages.</summary>
[MessagePackObject]
public sealed record NsSubscribe([property: Key(0)] string Volume, [property: Key(1)] string Node, [property: Key(2)] ulong[] OpenInodes,
    [property: Key(3)] HeldLock[] Locks) : INamespaceMessage;

/// <summary>A node opened <see cref="Ino"/>: while any node holds it open, an unlinked file is kept. Answered with its attributes.</summary>
[MessagePackObject]
public sealed record NsOpen([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] string Node) : INamespaceMessage;

/// <summary>A node released its last handle on <see cref="Ino"/>.</summary>
[MessagePackObject]
public sealed record NsClose([property: Key(0)] string Volume, [property: Key(1)] ulong Ino, [property: Key(2)] string Node) : INamespaceMessage;
