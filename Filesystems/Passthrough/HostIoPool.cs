using System.Diagnostics;
using Akka.Event;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// A PassthroughFs's own I/O threads: the data-path host calls (<see cref="HostIo"/>) run here, so a call that hangs
/// (a stalled network filesystem under SOURCE) holds one of these threads, never the actor or the device reader
/// that carried the request: every other request of the mount keeps being served.
/// Dedicated threads, not the .NET ThreadPool: Akka's dispatchers run on the ThreadPool, and blocking its threads in
/// host calls that may never return would starve the actor system (the ThreadPool only slowly adds threads).
/// Threads start lazily, one whenever a request is queued and no thread is idle, up to the maximum; so a sequential
/// workload keeps waking one thread, and at most <c>maxThreads</c> calls can hang before requests wait in the queue.
/// Background threads, stopped with the actor (<see cref="Stop"/>). The queue holds <see cref="IoWork"/> structs,
/// and each call wakes one chosen thread: no allocation per request, and no thundering herd.
/// </summary>
internal sealed class HostIoPool
{
    private readonly object _gate = new();
    // Under _gate: the calls waiting for a thread, the threads waiting for a call (most recently idle last: the
    // next call wakes it, so a sequential workload keeps one warm thread), and the state below.
    private readonly Queue<IoWork> _queue = new();
    private readonly Worker[] _idle;
    private int _idleCount;
    private int _threads;
    private bool _stopping;
    // Threads inside a call (read by Stop without the lock).
    private int _running;
    // The pool whose call this thread is making: a reply may run the connection, and through it this actor, on the
    // pool thread itself (InlineDispatcher), so Stop can be called from inside a call and must not wait for itself.
    [ThreadStatic] private static HostIoPool? t_inCallOf;
    private readonly int _maxThreads;
    private readonly string _name;
    private readonly ILoggingAdapter _log;

    /// <summary>A pool thread's wake-up: its own event, set by whoever hands it a call. No spinning before it sleeps
    /// (spinCount 0): on a 2-vCPU machine a spinning idle thread takes the CPU the reader and the caller need, and
    /// the next request of a sequential workload comes a whole round trip later anyway.</summary>
    private sealed class Worker
    {
        public readonly ManualResetEventSlim Wake = new(false, 0);
    }

    public HostIoPool(int maxThreads, string name, ILoggingAdapter log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxThreads, 1);
        _maxThreads = maxThreads;
        _idle = new Worker[maxThreads];
        _name = name;
        _log = log;
    }

    /// <summary>Threads started so far (for tests).</summary>
    public int Threads
    {
        get { lock (_gate) return _threads; }
    }

    /// <summary>Queues a call (from the actor). The caller answered nothing yet and holds the handles' references
    /// for it; the pool drops them when the call ends.</summary>
    public void Enqueue(in IoWork work)
    {
        Worker? wake = null;
        bool start = false, stopped = false;
        lock (_gate)
        {
            if (_stopping) stopped = true;
            else
            {
                _queue.Enqueue(work);
                if (_idleCount > 0) wake = _idle[--_idleCount];
                else if (_threads < _maxThreads)
                {
                    _threads++;
                    start = true;
                }
                // else: every thread is in a call; the first to finish takes it.
            }
        }
        // Answers (which may run the connection's mailbox on this thread) only outside the lock.
        if (stopped) HostIo.Abandon(in work);
        else if (wake is not null) wake.Wake.Set();
        else if (start) Start();
    }

    private void Start()
    {
        var worker = new Worker();
        var thread = new Thread(() => Work(worker))
        {
            IsBackground = true,
            Name = $"{_name}-io",
        };
        thread.Start();
    }

    private void Work(Worker me)
    {
        // The reply is written to the kernel on this thread (the connection's mailbox runs here, as on a reader)
        // rather than by a thread-pool thread woken for it: a thread wake-up less per request.
        FuseActors.Actors.Connection.InlineDispatcher.RunMailboxesInline();
        // Each thread has its own aligned buffer for O_DIRECT: calls on different threads run at the same time.
        using var aligned = new AlignedBuffer();
        while (true)
        {
            IoWork work;
            lock (_gate)
            {
                if (_stopping) return;
                if (!_queue.TryDequeue(out work))
                {
                    // Idle: reset under the lock, so a Set by an Enqueue that takes this thread off the idle list
                    // (also under the lock) always comes after it.
                    me.Wake.Reset();
                    _idle[_idleCount++] = me;
                    work = default;
                }
                else Interlocked.Increment(ref _running);
            }
            if (work.Request is null)
            {
                me.Wake.Wait();
                continue;
            }
            try
            {
                t_inCallOf = this;
                HostIo.RunOrAnswerEio(in work, aligned, _log);
            }
            finally
            {
                t_inCallOf = null;
                Interlocked.Decrement(ref _running);
            }
        }
    }

    /// <summary>
    /// Stops the pool (from the actor, when it stops or restarts): calls still queued are answered EIO and their
    /// references dropped; the threads end after their current call. Waits up to <paramref name="wait"/> for calls in
    /// progress, so that normally every call has answered before the actor answers EIO for its remaining deferred
    /// requests. A call hung in the host is not waited for longer: its thread ends when the host returns, and its late
    /// reply is dropped by the engine. Its request's buffers (a WRITE's data the call is still writing from) are safe
    /// meanwhile: a request the actor answers EIO as it ends is orphaned, and the engine then gives its buffers to the
    /// garbage collector instead of back to the pool the device reader rents from.
    /// </summary>
    public void Stop(TimeSpan wait)
    {
        Worker[] idle;
        IoWork[] queued;
        lock (_gate)
        {
            if (_stopping) return;
            _stopping = true;
            queued = _queue.ToArray();
            _queue.Clear();
            idle = _idle[.._idleCount];
            _idleCount = 0;
        }
        foreach (var w in idle) w.Wake.Set();
        foreach (var work in queued) HostIo.Abandon(in work);
        int self = t_inCallOf == this ? 1 : 0;
        var clock = Stopwatch.StartNew();
        while (Volatile.Read(ref _running) > self && clock.Elapsed < wait) Thread.Sleep(1);
        if (Volatile.Read(ref _running) > self)
            _log.Warning("{Count} host I/O call(s) still running as the passthrough filesystem stops; their requests are answered EIO", Volatile.Read(ref _running) - self);
    }
}
