using MessagePack;

namespace FuseActors.Filesystems.Cluster.Messages;

/// <summary>A lock held by a node: who (node and the kernel's lock owner), on what, which range and type.</summary>
[MessagePackObject]
public sealed record HeldLock(
    [property: Key(0)] ulong Ino, [property: Key(1)] ulong Owner, [property: Key(2)] ulong Start, [property: Key(3)] ulong End,
    [property: Key(4)] int Type, [property: Key(5)] uint Pid, [property: Key(6)] bool Flock) : IClusterFsMessage;

/// <summary>GETLK (<see cref="Test"/>), SETLK, SETLKW (<see cref="Wait"/>) and flock. Locks are not persisted: they
/// belong to live nodes, which re-announce them in <see cref="NsSubscribe"/> if the namespace moves.</summary>
[MessagePackObject]
public sealed record NsLock(
    [property: Key(0)] string Volume, [property: Key(1)] string Node, [property: Key(2)] HeldLock Lock,
    [property: Key(3)] bool Test, [property: Key(4)] bool Wait, [property: Key(5)] ulong WaitId) : INamespaceMessage;

/// <summary>The waiting SETLKW <see cref="WaitId"/> of <see cref="Node"/> was interrupted.</summary>
[MessagePackObject]
public sealed record NsCancelLockWait([property: Key(0)] string Volume, [property: Key(1)] string Node, [property: Key(2)] ulong WaitId) : INamespaceMessage;

/// <summary>Answer to <see cref="NsLock"/>: errno (EAGAIN on conflict), and for a test the conflicting lock
/// (null: none). <see cref="WaitId"/> echoes the request's.</summary>
[MessagePackObject]
public sealed record LockResult([property: Key(0)] int Errno, [property: Key(1)] HeldLock? Conflict, [property: Key(2)] ulong WaitId) : IClusterFsMessage;
