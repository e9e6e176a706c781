namespace FuseActors.Engine.Device;

/// <summary>
/// A large WRITE's data left where the kernel put it, in the payload buffer of an io_uring entry, instead of copied into
/// the request's own buffer as the request is read (1 MiB per WRITE; about a seventh of the daemon's CPU in sequential
/// O_DIRECT writes over io_uring, measured with perf).
/// <list type="bullet">
/// <item>A filesystem call that hands the data on synchronously, on the queue's own thread, uses it where it is
/// (<see cref="TryLease"/>): PassthroughFs's host write there, so the daemon copies the data not at all.</item>
/// <item>Anyone else gets it copied into the request's buffer first, on first use (<see cref="EnsureCopied"/>), on
/// whichever thread asks: the copy that used to be made at once.</item>
/// <item>The kernel puts the next request into the same buffer as soon as the entry is committed, so the queue commits
/// it only once the data is copied or the request has let go of it (<see cref="Release"/>), and never during a lease
/// (<see cref="ReadyToCommit"/>). An answer the engine gives early (a timeout, an interrupt) therefore copies the data
/// first; it never waits for the filesystem.</item>
/// </list>
/// One per entry, used again for each request the entry carries: every lend has a ticket (a generation), and a call
/// with an older ticket does nothing, so a request that outlives its entry's commit can never see the next one's data.
/// </summary>
public sealed unsafe class LentPayload
{
    private const long Pending = 0, Copying = 1, Copied = 2, Leased = 3, LeasedReleased = 4, Released = 5;
    private const int StateBits = 8;
    private const long StateMask = (1L << StateBits) - 1;

    private readonly byte[] _buffer; // held, so the memory _source points into lives as long as any request names it
    private readonly byte* _source;
    private readonly Func<bool> _onOwnerThread;
    private long _word = Released; // generation << StateBits | state
    private int _length;
    private Memory<byte> _destination;
    private long _leases;
    private long _commitCopies;
    // Leases taken on this thread and not yet ended. A lease is a ref struct, so none outlives the stack frame that took
    // it: once the queue's thread is back in its own loop, any still counted here were left undisposed (a filesystem's
    // bug), and the queue ends them (EndLeaseLeftOpen) rather than keep their entries out of the kernel's hands for good.
    [ThreadStatic] private static int t_leasesOpen;

    /// <param name="pinnedBuffer">The entry's payload array, allocated pinned; its buffer starts at <paramref name="offset"/>.</param>
    /// <param name="onOwnerThread">True on the queue's own thread: the only one that commits the entry.</param>
    public LentPayload(byte[] pinnedBuffer, int offset, Func<bool> onOwnerThread)
    {
        _buffer = pinnedBuffer;
        _source = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(
            ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinnedBuffer)) + offset;
        _onOwnerThread = onOwnerThread;
    }

    /// <summary>Bytes lent by the current ticket.</summary>
    public int Length => _length;

    /// <summary>Where in the request as read the data belongs (after fuse_in_header and the operation's own part).</summary>
    public int ReadAt { get; private set; }

    /// <summary>Leases granted so far: WRITEs whose data the daemon never copied.</summary>
    public long Leases => Interlocked.Read(ref _leases);

    /// <summary>Copies made because the entry was to be committed while its request still held the data (an early
    /// answer, or a reply committed before the request let go).</summary>
    public long CommitCopies => Interlocked.Read(ref _commitCopies);

    /// <summary>The queue's thread, as the kernel has just filled the entry with a WRITE of <paramref name="length"/> data
    /// bytes: lends them; returns the ticket that every later call names.</summary>
    internal long Lend(int length, int readAt = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, _buffer.Length); // the queue checked it against its buffers
        long generation = (Volatile.Read(ref _word) >> StateBits) + 1;
        _length = length;
        ReadAt = readAt;
        _destination = default;
        Volatile.Write(ref _word, generation << StateBits | Pending);
        return generation;
    }

    /// <summary>Where a copy goes: the request's own buffer, where its data would have been read (set by the reader
    /// before the request leaves it).</summary>
    public void SetDestination(long ticket, Memory<byte> destination)
    {
        if (Volatile.Read(ref _word) >> StateBits == ticket) _destination = destination;
    }

    /// <summary>Copies the data into the request's buffer unless that happened already or the request let go of it
    /// (any thread; another copying meanwhile is waited for).</summary>
    public void EnsureCopied(long ticket)
    {
        var spin = new SpinWait();
        while (true)
        {
            long word = Volatile.Read(ref _word);
            if (word >> StateBits != ticket) return; // committed since: it was copied or let go before that
            switch (word & StateMask)
            {
                case Pending:
                    if (Interlocked.CompareExchange(ref _word, word & ~StateMask | Copying, word) != word) continue;
                    CopyOut();
                    Volatile.Write(ref _word, word & ~StateMask | Copied);
                    return;
                case Copying:
                    spin.SpinOnce();
                    continue;
                case Leased when _onOwnerThread():
                    // A copy asked for inside the lease, on the thread that holds it: nothing can commit the entry until
                    // this thread returns, so it reads whole. Not recorded: the commit copies once more, the same bytes.
                    CopyOut();
                    return;
                case Leased:
                    // Another thread: a copy made now could still be running when the lease ends and the entry is
                    // committed and refilled. It waits for the lease (bounded: one synchronous call) and copies then.
                    spin.SpinOnce();
                    continue;
                default:
                    return; // Copied, or let go
            }
        }
    }

    private void CopyOut()
    {
        var destination = _destination;
        if (destination.Length >= _length) new ReadOnlySpan<byte>(_source, _length).CopyTo(destination.Span);
    }

    /// <summary>On the queue's own thread, while the data is still only in the entry: takes it for a synchronous use
    /// there, in place, until <see cref="EndLease"/>. False anywhere else, or once copied (then use the copy).</summary>
    public bool TryLease(long ticket, out ReadOnlySpan<byte> data)
    {
        data = default;
        long word = Volatile.Read(ref _word);
        if (word >> StateBits != ticket || (word & StateMask) != Pending || !_onOwnerThread()) return false;
        if (Interlocked.CompareExchange(ref _word, word & ~StateMask | Leased, word) != word) return false;
        Interlocked.Increment(ref _leases);
        t_leasesOpen++;
        data = new ReadOnlySpan<byte>(_source, _length);
        return true;
    }

    /// <summary>True while a lease taken on this thread has not been ended (cheap: for the queue's loop to ask before each
    /// read).</summary>
    public static bool LeasesOpenOnThisThread => t_leasesOpen != 0;

    /// <summary>The queue's thread, back in its own loop, where no lease can still be in use: ends this entry's lease if
    /// one was left open (never disposed). True if it did.</summary>
    internal bool EndLeaseLeftOpen()
    {
        long word = Volatile.Read(ref _word);
        if ((word & StateMask) is not (Leased or LeasedReleased)) return false;
        EndLease(word >> StateBits);
        return true;
    }

    /// <summary>Ends a lease: the data is back to waiting in the entry (or let go, if the request let go meanwhile).</summary>
    public void EndLease(long ticket)
    {
        while (true)
        {
            long word = Volatile.Read(ref _word);
            if (word >> StateBits != ticket) return;
            long next = (word & StateMask) switch
            {
                Leased => Pending,
                LeasedReleased => Released,
                _ => -1,
            };
            if (next < 0) return;
            if (Interlocked.CompareExchange(ref _word, word & ~StateMask | next, word) == word)
            {
                t_leasesOpen--; // on the thread that took it: a lease is a ref struct, and ends where it was taken
                return;
            }
        }
    }

    /// <summary>The request is done with its data (answered, or dropped): the entry may be committed without a copy.</summary>
    public void Release(long ticket)
    {
        var spin = new SpinWait();
        while (true)
        {
            long word = Volatile.Read(ref _word);
            if (word >> StateBits != ticket) return;
            long next;
            switch (word & StateMask)
            {
                case Pending or Copied: next = Released; break;
                case Leased: next = LeasedReleased; break; // the lease ends it
                case Copying: spin.SpinOnce(); continue;
                default: return;
            }
            if (Interlocked.CompareExchange(ref _word, word & ~StateMask | next, word) == word) return;
        }
    }

    /// <summary>The queue's thread, before it commits the entry: false while a lease holds the data (commit later);
    /// otherwise copies what is still only in the entry and returns true.</summary>
    internal bool ReadyToCommit()
    {
        long word = Volatile.Read(ref _word);
        long state = word & StateMask;
        if (state is Leased or LeasedReleased) return false;
        if (state is Pending or Copying)
        {
            if (state == Pending) Interlocked.Increment(ref _commitCopies);
            EnsureCopied(word >> StateBits);
        }
        return true;
    }
}
