namespace FuseActors.Engine.Device;

/// <summary>
/// Gives the normal policy back to threads that the runtime or the kernel started from an idle-priority io_uring queue
/// thread. A thread inherits its creator's scheduling policy, and SCHED_RESET_ON_FORK does not undo SCHED_IDLE. The
/// threads .NET starts for managed code begin at SCHED_OTHER anyway, but the runtime's own native threads do not:
/// measured here, the background GC's thread (".NET BGC"), started by a collection that a queue thread's allocation set
/// off, ran under SCHED_IDLE, and so would io_uring's workers for a queue's ring ("iou-wrk-N"). Such a thread runs only
/// when no other thread of the daemon's scheduling group wants the CPU. Every <see cref="Interval"/> the guard looks at
/// the process's threads and sets those of these names back to SCHED_OTHER, whether they inherited SCHED_IDLE or chose
/// it; threads of other names keep theirs. Leaving SCHED_IDLE needs CAP_SYS_NICE (or RLIMIT_NICE 20): an unprivileged
/// daemon's guard finds them and cannot.
/// </summary>
internal sealed class IdlePolicyGuard : IDisposable
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private readonly Func<int, bool> _isQueueThread;
    private readonly Timer _timer;

    public IdlePolicyGuard(Func<int, bool> isQueueThread)
    {
        _isQueueThread = isQueueThread;
        _timer = new Timer(static s => ((IdlePolicyGuard)s!).Sweep(), this, Interval, Interval);
    }

    /// <summary>Sets every runtime or io_uring worker thread found under SCHED_IDLE, other than a queue thread, back to
    /// SCHED_OTHER; returns how many it set.</summary>
    public int Sweep()
    {
        int reset = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int tid) || _isQueueThread(tid)) continue;
                var name = TryRead(Path.Combine(dir, "comm"));
                if (name is null || !(name.StartsWith(".NET ", StringComparison.Ordinal) || name.StartsWith("iou-wrk-", StringComparison.Ordinal)))
                    continue;
                var stat = TryRead(Path.Combine(dir, "stat"));
                if (stat is null || PolicyIn(stat) != IoUringFuseQueue.SchedIdle) continue;
                if (IoUringFuseQueue.SetSchedulingPolicy(tid, IoUringFuseQueue.SchedOther)) reset++;
            }
        }
        catch (IOException) { } // /proc unreadable: nothing to do until the next sweep
        catch (UnauthorizedAccessException) { }
        return reset;
    }

    /// <summary>Field 41 of a /proc/.../stat line: the scheduling policy (fields after the command name, which may hold
    /// spaces and parentheses, start at field 3).</summary>
    internal static int PolicyIn(string stat)
    {
        int start = stat.LastIndexOf(')') + 2;
        if (start < 2 || start > stat.Length) return -1; // not a stat line (the timer must not throw: it would end the process)
        var fields = stat.AsSpan(start);
        for (int field = 3; field < 41; field++)
        {
            int space = fields.IndexOf(' ');
            if (space < 0) return -1;
            fields = fields[(space + 1)..];
        }
        int end = fields.IndexOfAny(' ', '\n');
        return int.TryParse(end < 0 ? fields : fields[..end], out int policy) ? policy : -1;
    }

    private static string? TryRead(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return null; } // the thread ended meanwhile
    }

    public void Dispose() => _timer.Dispose();
}
