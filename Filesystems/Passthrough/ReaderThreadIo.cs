using Akka.Event;
using FuseActors.Actors.Connection;
using FuseActors.Actors.Filesystem;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// A data-path host call run on the device reader that carried its request, once that thread has let go of the
/// connection's and the filesystem's mailboxes (<see cref="InlineDispatcher.RunAfterMailboxes"/>), instead of on the
/// I/O pool (which reader may, and how many at once: <see cref="FsRequest.TryTakeReaderForWork"/>). Why: a call on a
/// pool thread costs a wake-up of that thread per request, and over io_uring a second one, since the reply to a
/// request from a ring is committed by its queue's own thread (woken through its eventfd). Measured by hand, 4 KiB
/// O_DIRECT random reads from four jobs over io_uring cost the daemon 64-98 µs of CPU each through the pool, against
/// passthrough_hp's 21-24 µs on its ring threads; on <c>/dev/fuse</c> 31-33 µs through the pool and 28-29 here (all but
/// one reader taken at a time), where passthrough_hp's threads, each reading /dev/fuse and making its own host call,
/// spend 27-30. Requests that come
/// meanwhile are read and served by the other readers, as passthrough_hp's other threads serve them.
/// Limits, decided by the caller and here:
/// - only calls whose wait is bounded by a local device (PassthroughFs decides): a call that may wait for a server
///   stays on the pool, where a stalled one holds a pool thread, not a reader;
/// - one such call per thread at a time: while one waits to run, the next goes to the pool, so the calls of a batch
///   (an O_DIRECT read the kernel splits into several, a deep queue) still reach the device together;
/// - replies this thread gave before are submitted first (<see cref="FsRequest.FlushEarlierReplies"/>),
///   so they never wait for the call.
/// </summary>
internal static class ReaderThreadIo
{
    // The thread's call waiting to run (at most one), and its O_DIRECT buffer, freed by its finalizer once the thread (a
    // reader of a connection) is gone.
    [ThreadStatic] private static bool t_pending;
    [ThreadStatic] private static IoWork t_work;
    [ThreadStatic] private static ILoggingAdapter? t_log;
    [ThreadStatic] private static AlignedBuffer? t_aligned;

    private static long s_reads, s_writes;

    /// <summary>This thread's O_DIRECT buffer (a reader's: ring reads read again the usual way there use it too).</summary>
    public static AlignedBuffer ThreadAligned => t_aligned ??= new AlignedBuffer();

    /// <summary>READs run this way so far, in this process (for tests).</summary>
    public static long Reads => Interlocked.Read(ref s_reads);
    /// <summary>WRITEs run this way so far, in this process (for tests).</summary>
    public static long Writes => Interlocked.Read(ref s_writes);

    private static readonly Action<long> RunPending = static _ =>
    {
        if (!t_pending) return;
        var work = t_work;
        var log = t_log!;
        t_work = default;
        t_log = null;
        t_pending = false;
        try
        {
            Run(in work, log);
        }
        finally
        {
            work.Request.GiveBackReader();
        }
    };

    /// <summary>Queues <paramref name="work"/> to run on this thread after its mailbox runs; false (nothing queued)
    /// when this thread is not a reader that may take it (<see cref="FsRequest.TryTakeReaderForWork"/>), runs no
    /// mailboxes inline, or already has a call waiting.</summary>
    public static bool TryRunAfterMailboxes(in IoWork work, ILoggingAdapter log)
    {
        if (t_pending || !work.Request.TryTakeReaderForWork()) return false;
        // Taken first, so that a deferral the dispatcher accepts always finds its call.
        t_work = work;
        t_log = log;
        t_pending = true;
        if (InlineDispatcher.RunAfterMailboxes(RunPending, 0)) return true;
        t_work = default;
        t_log = null;
        t_pending = false;
        work.Request.GiveBackReader();
        return false;
    }

    private static void Run(in IoWork work, ILoggingAdapter log)
    {
        if (work.Request.IsReplied)
        {
            // Answered meanwhile (EIO by the filesystem actor as it stopped, or by the engine after a timeout or an
            // interrupt): a WRITE the caller was told failed must not reach the file after all. The filesystem's own
            // answer still goes out (EIO; nothing if the filesystem answered already): after the engine's, that late
            // answer is what ends the request on the connection's side, as a pool call's answer would.
            HostIo.Abandon(in work);
            return;
        }
        Interlocked.Increment(ref work.Request is ReadRequest ? ref s_reads : ref s_writes);
        try
        {
            work.Request.FlushEarlierReplies();
        }
        catch (Exception e)
        {
            // Those replies then go with the ring's next wait; the call itself still runs (and releases its references).
            log.Error(e, "submitting earlier replies before {Request} threw", work.Request);
        }
        HostIo.RunOrAnswerEio(in work, ThreadAligned, log);
    }
}
