namespace FuseActors.Actors.Filesystem;

/// <summary>
/// The locks held on one file, with fcntl(2)'s POSIX record-lock semantics, for a filesystem that implements
/// GETLK/SETLK/SETLKW (and flock, as whole-file locks in a table of its own). Pure data, not thread-safe: keep one
/// per file inside the filesystem actor.
///
/// <para>An owner's locks never overlap each other and never conflict with each other. Setting a lock replaces
/// whatever the owner held on that range: its overlapping or adjacent ranges of the same type merge into one, its
/// ranges of another type are cut (split when the new range lies inside one). An unlock cuts the owner's ranges the
/// same way. A lock that conflicts with another owner's (a write lock with anything, a read lock with a write lock)
/// is refused and nothing changes. Waiting (SETLKW) and deadlock detection are the caller's business.</para>
/// </summary>
public sealed class LockTable<TOwner> where TOwner : IEquatable<TOwner>
{
    private readonly List<(TOwner Owner, FileLock Lock)> _locks = new();

    /// <summary>Every lock held, in no particular order.</summary>
    public IEnumerable<(TOwner Owner, FileLock Lock)> Locks => _locks;

    public bool IsEmpty => _locks.Count == 0;

    /// <summary>The first lock of another owner that stops <paramref name="owner"/> from taking
    /// <paramref name="wanted"/> (what GETLK reports), or null. An unlock never conflicts.</summary>
    public FileLock? FindConflict(TOwner owner, FileLock wanted) => FindConflictWithOwner(owner, wanted)?.Lock;

    /// <summary><see cref="FindConflict"/>, with the owner of the conflicting lock.</summary>
    public (TOwner Owner, FileLock Lock)? FindConflictWithOwner(TOwner owner, FileLock wanted)
    {
        if (wanted.Type == LockType.Unlock) return null;
        foreach (var (o, l) in _locks)
            if (!o.Equals(owner) && l.ConflictsWith(wanted)) return (o, l);
        return null;
    }

    /// <summary>Takes, changes or (with <see cref="LockType.Unlock"/>) drops <paramref name="owner"/>'s lock on the range
    /// of <paramref name="wanted"/>. False when another owner's lock conflicts; then nothing changes.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range ends before it starts, or the type is not a lock type.</exception>
    public bool TrySet(TOwner owner, FileLock wanted)
    {
        if (wanted.End < wanted.Start) throw new ArgumentOutOfRangeException(nameof(wanted), wanted, "a lock's end is before its start");
        if (wanted.Type is not (LockType.Read or LockType.Write or LockType.Unlock))
            throw new ArgumentOutOfRangeException(nameof(wanted), wanted, "unknown lock type");
        if (FindConflict(owner, wanted) is not null) return false;

        ulong start = wanted.Start, end = wanted.End;
        List<(TOwner, FileLock)>? pieces = null;
        for (int i = _locks.Count - 1; i >= 0; i--)
        {
            var (o, held) = _locks[i];
            if (!o.Equals(owner)) continue;
            if (held.Type == wanted.Type && wanted.Type != LockType.Unlock)
            {
                // Same type: overlapping or touching ranges become one.
                bool touches = held.Overlaps(wanted)
                    || (held.End != ulong.MaxValue && held.End + 1 == wanted.Start)
                    || (wanted.End != ulong.MaxValue && wanted.End + 1 == held.Start);
                if (!touches) continue;
                start = Math.Min(start, held.Start);
                end = Math.Max(end, held.End);
                _locks.RemoveAt(i);
            }
            else if (held.Overlaps(wanted))
            {
                // Another type (or an unlock): keep only what lies outside the new range.
                _locks.RemoveAt(i);
                if (held.Start < wanted.Start) (pieces ??= new()).Add((owner, held with { End = wanted.Start - 1 }));
                if (held.End > wanted.End) (pieces ??= new()).Add((owner, held with { Start = wanted.End + 1 }));
            }
        }
        if (pieces is not null) _locks.AddRange(pieces);
        if (wanted.Type != LockType.Unlock) _locks.Add((owner, new FileLock(start, end, wanted.Type, wanted.Pid)));
        return true;
    }

    /// <summary>Drops every lock of <paramref name="owner"/> (a close: FLUSH's lock owner, or a flock's release).</summary>
    public void ReleaseAll(TOwner owner) => _locks.RemoveAll(e => e.Owner.Equals(owner));

    /// <summary>Drops the locks of every owner <paramref name="match"/> picks (e.g. every owner of a node that left the cluster).</summary>
    public void ReleaseWhere(Func<TOwner, bool> match) => _locks.RemoveAll(e => match(e.Owner));
}
