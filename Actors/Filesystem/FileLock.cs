namespace FuseActors.Actors.Filesystem;

/// <summary>A lock's kind, with Linux's values for F_RDLCK, F_WRLCK and F_UNLCK (as the kernel sends them).</summary>
public enum LockType : uint
{
    /// <summary>F_RDLCK: shared; conflicts with another owner's write lock.</summary>
    Read = 0,
    /// <summary>F_WRLCK: exclusive; conflicts with any lock of another owner.</summary>
    Write = 1,
    /// <summary>F_UNLCK: removes locks (in GETLK's answer: no conflicting lock).</summary>
    Unlock = 2,
}

/// <summary>
/// A byte-range lock: bytes <see cref="Start"/> through <see cref="End"/>, both inclusive; an <see cref="End"/> of
/// <see cref="ToEndOfFile"/> (ulong.MaxValue) covers everything from <see cref="Start"/> on, however the file grows.
/// A flock(2) is the whole file (0 .. <see cref="ToEndOfFile"/>). <see cref="Pid"/> is the holder's process id as the
/// kernel gave it (0 for flock and for kernel-internal requests). The engine maps the kernel's OFFSET_MAX (LLONG_MAX,
/// its "to the end of the file") to <see cref="ToEndOfFile"/> and back.
/// </summary>
public readonly record struct FileLock(ulong Start, ulong End, LockType Type, uint Pid)
{
    /// <summary>The end of a lock that reaches the end of the file.</summary>
    public const ulong ToEndOfFile = ulong.MaxValue;

    /// <summary>The whole file (a flock, or fcntl with start 0 and length 0).</summary>
    public static FileLock WholeFile(LockType type, uint pid = 0) => new(0, ToEndOfFile, type, pid);

    /// <summary>Whether the two ranges share at least one byte.</summary>
    public bool Overlaps(in FileLock other) => Start <= other.End && other.Start <= End;

    /// <summary>Whether this lock, held by one owner, stops another owner from taking <paramref name="wanted"/>:
    /// they overlap and at least one of them is a write lock (an unlock never conflicts).</summary>
    public bool ConflictsWith(in FileLock wanted) =>
        Type != LockType.Unlock && wanted.Type != LockType.Unlock && (Type == LockType.Write || wanted.Type == LockType.Write) && Overlaps(wanted);
}
