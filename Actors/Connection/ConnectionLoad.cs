namespace FuseActors.Actors.Connection;

/// <summary>
/// How many of a connection's requests are read and not yet answered, from any thread: the read credits taken, less
/// those the readers hold for the read they are blocked in. For <see cref="Filesystem.FsRequest.OthersWaiting"/> (a
/// request another reader took while this one's handler runs waits in the connection's mailbox, not in the kernel)
/// and the credit-in-use metric. A request that gave its credit back early (SETLKW) is not counted.
/// Also which of the connection's /dev/fuse readers are alive and how many are taken for a request's slow work
/// (<see cref="TryTakeThisReader"/>): both are about the connection's readers and what they are busy with.
/// </summary>
public sealed class ConnectionLoad
{
    private readonly SemaphoreSlim _credit;
    private readonly int _limit;
    private DeviceReader[] _readers = [];

    internal ConnectionLoad(SemaphoreSlim credit, int limit)
    {
        _credit = credit;
        _limit = limit;
    }

    internal void SetReaders(DeviceReader[] readers) => _readers = readers;

    // The connection whose /dev/fuse reader this thread is (io_uring readers are not counted here: each commits its own
    // queue's replies, FsRequest decides for them), the live ones, and those taken for slow work (TryTakeThisReader).
    [ThreadStatic] private static ConnectionLoad? t_readerOf;
    private int _liveReaders;
    private int _readersTaken;

    /// <summary>On a <c>/dev/fuse</c> reader's thread as it starts, and as it ends.</summary>
    internal void ReaderStarted()
    {
        t_readerOf = this;
        Interlocked.Increment(ref _liveReaders);
    }

    internal void ReaderEnded()
    {
        t_readerOf = null;
        Interlocked.Decrement(ref _liveReaders);
    }

    /// <summary>Takes the calling thread, if it is one of this connection's live <c>/dev/fuse</c> readers, for slow
    /// work while at least one other reader stays free to read the device: a reader held so reads no requests
    /// (INTERRUPTs, FORGETs, other callers' quick requests) until the work ends. So at most all but one reader are
    /// taken at a time, and with a single queue none. True must be followed by <see cref="GiveBackReader"/>.</summary>
    internal bool TryTakeThisReader()
    {
        if (!ReferenceEquals(t_readerOf, this)) return false;
        while (true)
        {
            int taken = Volatile.Read(ref _readersTaken);
            if (taken >= Volatile.Read(ref _liveReaders) - 1) return false;
            if (Interlocked.CompareExchange(ref _readersTaken, taken + 1, taken) == taken) return true;
        }
    }

    /// <summary>Ends a <see cref="TryTakeThisReader"/> that answered true (one more than were taken is ignored).</summary>
    internal void GiveBackReader()
    {
        while (true)
        {
            int taken = Volatile.Read(ref _readersTaken);
            if (taken == 0 || Interlocked.CompareExchange(ref _readersTaken, taken - 1, taken) == taken) return;
        }
    }

    /// <summary>Requests read and not answered yet (the one a handler runs for included).</summary>
    public int Unanswered()
    {
        int used = _limit - _credit.CurrentCount;
        foreach (var r in _readers) used -= r.HoldsCreditForRead;
        return Math.Max(0, used);
    }
}
