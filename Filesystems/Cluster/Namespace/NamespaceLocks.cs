using Akka.Actor;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;
using FuseActors.Filesystems.Cluster.Messages;

namespace FuseActors.Filesystems.Cluster.Namespace;

/// <summary>
/// Every lock of the volume: per file one POSIX record-lock table and one flock table (Linux keeps the two kinds
/// apart), owned by (node, the kernel's lock owner), and the SETLKW waiters. Not persisted: a lock lives only as
/// long as its node; nodes re-announce theirs when the namespace entity moves.
/// </summary>
internal sealed class NamespaceLocks
{
    internal readonly record struct Owner(string Node, ulong LockOwner);

    private sealed record Waiter(NsLock Request, IActorRef ReplyTo);

    private readonly Dictionary<(ulong Ino, bool Flock), LockTable<Owner>> _tables = new();
    private readonly List<Waiter> _waiters = new();

    private LockTable<Owner> Table(ulong ino, bool flock)
    {
        if (!_tables.TryGetValue((ino, flock), out var t)) _tables[(ino, flock)] = t = new LockTable<Owner>();
        return t;
    }

    private static FileLock ToFileLock(HeldLock l) => new(l.Start, l.End, (LockType)l.Type, l.Pid);

    private static HeldLock ToHeld(ulong ino, Owner owner, FileLock l, bool flock) =>
        new(ino, owner.LockOwner, l.Start, l.End, (int)l.Type, l.Pid, flock);

    /// <summary>A node re-announces a lock it holds (after the entity moved). Conflicts cannot arise between live
    /// nodes' locks; one that does is dropped.</summary>
    public void Adopt(string node, HeldLock l) => Table(l.Ino, l.Flock).TrySet(new Owner(node, l.Owner), ToFileLock(l));

    /// <summary>GETLK, SETLK or SETLKW. Returns the answers to send now: to this request (unless it waits) and to
    /// any waiters an unlock let through.</summary>
    public List<(IActorRef, LockResult)> Request(NsLock l, IActorRef replyTo)
    {
        var answers = new List<(IActorRef, LockResult)>();
        var owner = new Owner(l.Node, l.Lock.Owner);
        var table = Table(l.Lock.Ino, l.Lock.Flock);
        var wanted = ToFileLock(l.Lock);
        if (l.Test)
        {
            // A lock held on another node reports pid 0: its pid means nothing here, and the kernel would map it to
            // whichever local process has that number.
            var conflict = table.FindConflictWithOwner(owner, wanted);
            answers.Add((replyTo, new LockResult(0, conflict is var (o, c)
                ? ToHeld(l.Lock.Ino, o, o.Node == l.Node ? c : c with { Pid = 0 }, l.Lock.Flock)
                : null, l.WaitId)));
            return answers;
        }
        // A re-sent SETLKW (the node asks again after the entity moved) replaces the waiter it may already have here.
        if (l.Wait) _waiters.RemoveAll(w => w.Request.Node == l.Node && w.Request.WaitId == l.WaitId);
        if (table.TrySet(owner, wanted))
        {
            answers.Add((replyTo, new LockResult(0, null, l.WaitId)));
            GrantWaiters(answers); // an unlock, or a downgrade or split, may let waiters through
        }
        else if (l.Wait) _waiters.Add(new Waiter(l, replyTo));
        else answers.Add((replyTo, new LockResult((int)Errno.EAGAIN, null, l.WaitId)));
        Compact(l.Lock.Ino, l.Lock.Flock);
        return answers;
    }

    /// <summary>Lets through every waiter whose lock no longer conflicts (in arrival order).</summary>
    private void GrantWaiters(List<(IActorRef, LockResult)> answers)
    {
        for (int i = 0; i < _waiters.Count; i++)
        {
            var w = _waiters[i];
            var table = Table(w.Request.Lock.Ino, w.Request.Lock.Flock);
            if (!table.TrySet(new Owner(w.Request.Node, w.Request.Lock.Owner), ToFileLock(w.Request.Lock))) continue;
            answers.Add((w.ReplyTo, new LockResult(0, null, w.Request.WaitId)));
            _waiters.RemoveAt(i);
            i = -1; // a granted lock may block or free others: look again from the start
        }
    }

    public void CancelWait(string node, ulong waitId) => _waiters.RemoveAll(w => w.Request.Node == node && w.Request.WaitId == waitId);

    /// <summary>A node is gone: its locks and waiters go, and whoever waited on them may now go on.</summary>
    public List<(IActorRef, LockResult)> ReleaseNode(string node)
    {
        _waiters.RemoveAll(w => w.Request.Node == node);
        foreach (var t in _tables.Values) t.ReleaseWhere(o => o.Node == node);
        var answers = new List<(IActorRef, LockResult)>();
        GrantWaiters(answers);
        foreach (var key in _tables.Where(kv => kv.Value.IsEmpty).Select(kv => kv.Key).ToList()) _tables.Remove(key);
        return answers;
    }

    private void Compact(ulong ino, bool flock)
    {
        if (_tables.TryGetValue((ino, flock), out var t) && t.IsEmpty && !_waiters.Exists(w => w.Request.Lock.Ino == ino)) _tables.Remove((ino, flock));
    }
}
