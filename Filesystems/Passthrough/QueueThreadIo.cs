using Akka.Event;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Protocol;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// Data-path host calls run on the io_uring queue thread that carried the request, once that thread has let go of
/// the connection's and the filesystem's mailboxes (<see cref="InlineDispatcher.RunAfterMailboxes"/>), instead of on
/// the I/O pool. Why: the reply to a request from a ring is committed by its queue's own thread, so a call on a pool
/// thread costs two wake-ups (the pool thread's, then the queue thread's through its eventfd); measured by hand, 4 KiB
/// O_DIRECT random reads from four jobs over io_uring cost the daemon 64-98 µs of CPU each through the pool, against
/// passthrough_hp's 23 µs on its ring threads. Requests from callers on other CPUs come through other queues and are
/// served meanwhile, as passthrough_hp's ring threads serve theirs; only this queue's next request waits for the call.
/// So it is only for calls whose wait is bounded by a local device (PassthroughFs decides): a call that may wait for
/// a server stays on the pool, where a stalled one holds a pool thread, not a CPU's queue.
/// Per thread, in order: each deferred run takes the call queued with it.
/// </summary>
internal static class QueueThreadIo
{
    [ThreadStatic] private static Queue<(IoWork Work, ILoggingAdapter Log)>? t_calls;
    // The thread's O_DIRECT buffer, freed by its finalizer once the thread (a reader of a connection) is gone.
    [ThreadStatic] private static AlignedBuffer? t_aligned;

    private static long s_runs;

    /// <summary>Calls run this way so far, in this process (for tests).</summary>
    public static long Runs => Interlocked.Read(ref s_runs);

    private static readonly Action<long> RunNext = static _ =>
    {
        var (work, log) = t_calls!.Dequeue();
        Interlocked.Increment(ref s_runs);
        try
        {
            HostIo.Run(in work, t_aligned ??= new AlignedBuffer(), log);
        }
        catch (Exception e)
        {
            // A bug, not a host error (those are errnos): answer EIO, and the thread goes on reading its queue.
            log.Error(e, "host I/O for {Request} threw; answering EIO", work.Request);
            work.Request.Fail(Errno.EIO);
        }
    };

    /// <summary>Queues <paramref name="work"/> to run on this thread after its mailbox runs; false (nothing queued)
    /// when this thread is not running mailboxes inline.</summary>
    public static bool TryRunAfterMailboxes(in IoWork work, ILoggingAdapter log)
    {
        if (!InlineDispatcher.RunAfterMailboxes(RunNext, 0)) return false;
        (t_calls ??= new Queue<(IoWork, ILoggingAdapter)>()).Enqueue((work, log));
        return true;
    }
}
