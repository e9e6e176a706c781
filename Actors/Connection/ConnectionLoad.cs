namespace FuseActors.Actors.Connection;

/// <summary>
/// How many of a connection's requests are read and not yet answered, from any thread: the read credits taken, less
/// those the readers hold for the read they are blocked in. For <see cref="Filesystem.FsRequest.OthersWaiting"/> (a
/// request another reader took while this one's handler runs waits in the connection's mailbox, not in the kernel)
/// and the credit-in-use metric. A request that gave its credit back early (SETLKW) is not counted.
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

    /// <summary>Requests read and not answered yet (the one a handler runs for included).</summary>
    public int Unanswered()
    {
        int used = _limit - _credit.CurrentCount;
        foreach (var r in _readers) used -= r.HoldsCreditForRead;
        return Math.Max(0, used);
    }
}
