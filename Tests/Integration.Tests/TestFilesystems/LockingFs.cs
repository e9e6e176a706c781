using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// One empty file, "file" (node 2), whose POSIX record locks and flock locks are kept here, in two
/// <see cref="LockTable{TOwner}"/>s keyed by the kernel's lock owner (it declares PosixLocks | FlockLocks, so the kernel
/// asks). A SETLKW that cannot be granted is deferred and granted when an unlock, a FLUSH (close: the owner's POSIX
/// locks go) or a RELEASE with FLOCK_UNLOCK frees its range; an interrupted waiter is answered EINTR.
/// </summary>
public sealed class LockingFs : FilesystemActor
{
    public const ulong FileNode = 2;

    public sealed class Counts
    {
        public int GetLocks, SetLocks, WaitingSetLocks, Interrupted;
    }

    private readonly Counts _counts;
    private readonly LockTable<ulong> _posix = new();
    private readonly LockTable<ulong> _flock = new();
    private readonly List<SetLockRequest> _waiters = new();
    private ulong _nextFh;

    public LockingFs(Counts counts) => _counts = counts;

    public static Props Props(Counts counts) => Akka.Actor.Props.Create(() => new LockingFs(counts));

    protected override FilesystemCapabilities Capabilities => FilesystemCapabilities.PosixLocks | FilesystemCapabilities.FlockLocks;

    private static FuseAttr Attr(ulong node) => node == 1
        ? new FuseAttr { Ino = 1, Mode = ModeBits.Directory | 0x1ED, Nlink = 2 }
        : new FuseAttr { Ino = FileNode, Mode = ModeBits.Regular | 0x1B6, Nlink = 1, Size = 0 };

    protected override void Lookup(LookupRequest r)
    {
        if (r.NodeId == 1 && r.Name == "file") r.Reply(new Entry { NodeId = FileNode, Attr = Attr(FileNode) });
        else r.Fail(Errno.ENOENT);
    }

    protected override void GetAttr(GetAttrRequest r) => r.Reply(Attr(r.NodeId));
    protected override void Open(OpenRequest r) => r.Reply(++_nextFh);
    protected override void Read(ReadRequest r) => r.Reply(ReadOnlyMemory<byte>.Empty);
    protected override void Write(WriteRequest r) => r.Reply(r.Size);
    protected override void SetAttr(SetAttrRequest r) => r.Reply(Attr(r.NodeId));

    protected override void Flush(FlushRequest r)
    {
        _posix.ReleaseAll(r.LockOwner); // close(2) drops the process's POSIX locks on the file
        r.Reply();
        GrantWaiters();
    }

    protected override void Release(ReleaseRequest r)
    {
        if ((r.ReleaseFlags & ReleaseFlags.FlockUnlock) != 0) _flock.ReleaseAll(r.LockOwner);
        r.Reply();
        GrantWaiters();
    }

    protected override void GetLock(GetLockRequest r)
    {
        Interlocked.Increment(ref _counts.GetLocks);
        r.Reply(_posix.FindConflict(r.Owner, r.Lock) ?? new FileLock(0, 0, LockType.Unlock, 0));
    }

    protected override void SetLock(SetLockRequest r)
    {
        Interlocked.Increment(ref _counts.SetLocks);
        var table = r.IsFlock ? _flock : _posix;
        if (table.TrySet(r.Owner, r.Lock))
        {
            r.Reply();
            GrantWaiters();
            return;
        }
        if (!r.Wait)
        {
            r.Fail(Errno.EAGAIN);
            return;
        }
        Interlocked.Increment(ref _counts.WaitingSetLocks);
        r.Defer();
        _waiters.Add(r);
    }

    protected override void Interrupted(FsRequest request)
    {
        if (request is SetLockRequest waiter && _waiters.Remove(waiter))
        {
            Interlocked.Increment(ref _counts.Interrupted);
            waiter.Fail(Errno.EINTR);
        }
    }

    private void GrantWaiters()
    {
        for (int i = 0; i < _waiters.Count; i++)
        {
            var w = _waiters[i];
            if (w.IsReplied || (w.IsFlock ? _flock : _posix).TrySet(w.Owner, w.Lock))
            {
                _waiters.RemoveAt(i);
                w.Reply();
                i = -1; // a granted lock may change what the others can take: look again from the start
            }
        }
    }
}
