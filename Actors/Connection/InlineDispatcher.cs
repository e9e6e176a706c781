using Akka.Configuration;
using Akka.Dispatch;

namespace FuseActors.Actors.Connection;

/// <summary>
/// Runs an actor's mailbox on the thread that sent it the message. With the connection and the filesystem actor on
/// it, a request goes reader thread → decode → Connection → filesystem handler → reply write without leaving the
/// reader thread. Why: on these VMs waking another vCPU costs ~40 µs (fuse-protocol.md, akka-and-style.md §2), and the
/// default dispatcher adds two such hops per request (reader → connection → filesystem); measured here, a cold
/// <c>stat</c> on memfs took 145 µs with the default dispatcher.
///
/// The mailbox still guarantees one message at a time: a sender that finds the mailbox already running only
/// enqueues, and the running thread processes it. Nesting (connection → filesystem → ...) is bounded: beyond
/// <see cref="MaxDepth"/> nested runs the mailbox goes to the thread pool instead, so a busy mailbox that keeps
/// rescheduling itself can never grow the stack.
/// Only reader threads run mailboxes inline: any other sender (a timer, the thread pool finishing an async handler,
/// the scheduler) hands the mailbox to the thread pool, as the default dispatcher would, so a filesystem never runs
/// on Akka's scheduler thread or inside a caller that merely told it something.
/// A filesystem handler that blocks its thread therefore blocks the reader that carried the request, and the
/// connection too: the filesystem's mailbox runs inside the connection's, so until the handler returns, requests
/// other readers bring, replies from other threads and the request-timeout sweep wait in the connection's mailbox.
/// More device queues do not help there. Slow work belongs off the actor: answer asynchronously (Defer, HandleAsync,
/// a worker pool as PassthroughFs has), or give the filesystem a dispatcher of its own.
/// </summary>
public sealed class InlineDispatcher : MessageDispatcher
{
    public const string DispatcherId = "fuseactors.inline-dispatcher";
    private const int MaxDepth = 4;

    [ThreadStatic] private static int t_depth;
    [ThreadStatic] private static bool t_readerThread;
    // Work to run on this thread once its outermost inline mailbox run ends (RunAfterMailboxes).
    [ThreadStatic] private static AfterWork[]? t_after;
    [ThreadStatic] private static int t_afterCount;
    [ThreadStatic] private static bool t_runningAfter;

    private struct AfterWork
    {
        public Action<long> Action;
        public long Argument;
    }

    public InlineDispatcher(MessageDispatcherConfigurator configurator) : base(configurator) { }

    protected override void ExecuteTask(IRunnable run)
    {
        if (t_readerThread && t_depth < MaxDepth)
        {
            t_depth++;
            try { run.Run(); }
            finally
            {
                if (--t_depth == 0 && t_afterCount > 0) RunAfterWork();
            }
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => r.Run(), run, preferLocal: false);
        }
    }

    protected override void Shutdown() { }

    /// <summary>
    /// Runs <paramref name="action"/>(<paramref name="argument"/>) on this thread as soon as the mailbox runs in
    /// progress here have ended: after the handler returned and the connection's mailbox (which ran it) was let go,
    /// before the reader takes its next request. For work a handler must not do while it holds the mailboxes because
    /// it is slow: what nothing waits for (PassthroughFs closes forgotten nodes' descriptors there, except on an io_uring
    /// queue's thread: an unlinked file's last close deletes it on the host), or a request's own bounded work answered
    /// from there
    /// (<see cref="Filesystem.FsRequest.TryTakeReaderForWork"/> says where that may be). Requests other readers bring
    /// meanwhile are served by them.
    /// Returns false, doing nothing, when not called from inside such a run (a handler the thread pool runs): the
    /// caller then does the work itself. No allocation for a static <paramref name="action"/>. It must not throw: one
    /// that does still lets the others run, and the first exception then goes on up the reader (which ends its queue).
    /// </summary>
    public static bool RunAfterMailboxes(Action<long> action, long argument)
    {
        if (!t_readerThread || t_depth == 0) return false;
        var after = t_after ??= new AfterWork[16];
        if (t_afterCount == after.Length) Array.Resize(ref t_after, after.Length * 2);
        t_after![t_afterCount++] = new AfterWork { Action = action, Argument = argument };
        return true;
    }

    private static void RunAfterWork()
    {
        if (t_runningAfter) return; // a Tell from such work ran a mailbox inline: the loop below takes what it added
        t_runningAfter = true;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        try
        {
            for (int i = 0; i < t_afterCount; i++)
            {
                var work = t_after![i];
                t_after[i] = default;
                // A throw is a bug in the work; the rest still runs (each may hold a descriptor or a request), and the
                // first failure goes on up afterwards as it would have.
                try { work.Action(work.Argument); }
                catch (Exception e) { failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
            }
        }
        finally
        {
            t_afterCount = 0;
            t_runningAfter = false;
        }
        failure?.Throw();
    }

    /// <summary>Lets the calling thread (a device reader) run mailboxes of this dispatcher inline.</summary>
    internal static void MarkReaderThread() => t_readerThread = true;

    /// <summary>
    /// Lets the calling thread run mailboxes of this dispatcher inline, as a device reader does: for a filesystem's own
    /// worker threads that answer requests (PassthroughFs's I/O pool). A reply given there is then written to the
    /// kernel on that thread, instead of waking a thread-pool thread to run the connection (one thread wake-up less
    /// per request). Such a thread must expect to run actor code (the connection, and what it sends to) inside a Tell.
    /// </summary>
    public static void RunMailboxesInline() => t_readerThread = true;

    /// <summary>Registers the dispatcher under <see cref="DispatcherId"/> in a system (idempotent).</summary>
    public static void Register(Akka.Actor.ActorSystem system)
    {
        if (system.Dispatchers.HasDispatcher(DispatcherId)) return;
        var config = ConfigurationFactory.ParseString($"id = \"{DispatcherId}\"\nthroughput = 100\nthroughput-deadline-time = 0ms")
            .WithFallback(system.Settings.Config.GetConfig("akka.actor.default-dispatcher"));
        system.Dispatchers.RegisterConfigurator(DispatcherId, new InlineConfigurator(config, system.Dispatchers.Prerequisites));
    }

    private sealed class InlineConfigurator : MessageDispatcherConfigurator
    {
        private readonly InlineDispatcher _instance;
        public InlineConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites) => _instance = new InlineDispatcher(this);
        public override MessageDispatcher Dispatcher() => _instance;
    }
}
