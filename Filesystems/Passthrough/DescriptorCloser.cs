using System.Collections.Concurrent;
using FuseActors.Filesystems.Interop;

namespace FuseActors.Filesystems.Passthrough;

/// <summary>
/// Closes descriptors of forgotten nodes on a thread of its own, for the threads that must not pay for a close. The last
/// descriptor of an unlinked host file is where the host deletes it (ext4 frees its blocks and inode through the
/// journal: tens of µs), and whichever thread closes it pays for that. Over io_uring a FORGET that finds the mailboxes
/// busy is handled by the queue thread serving the caller, whose next UNLINK then waited for the previous file's
/// deletion (by hand, unlinks of 5000 files with kernel passthrough over io_uring: 13.5-19.7k/s, against 29-34k/s for
/// passthrough_hp, which closes on the thread that read the FORGET; 18.7-30.8k/s with this). See InodeTable.DropIfUnused.
/// One thread, started on the first close. Awake, it drains the queue every millisecond while numbers keep coming, so
/// the threads that hand them over make a system call (a wake-up) only for the first after a quiet millisecond; it
/// sleeps without spinning. A number handed over stays open (so never reused) until this thread closes it.
/// <see cref="Dispose"/> closes what is still queued before it returns (unless the thread has been stuck in a close for
/// 10 s: it is then left to finish). Close and Dispose are called by the owner (the actor) only.
/// </summary>
internal sealed class DescriptorCloser : IDisposable
{
    private readonly ConcurrentQueue<int> _queue = new();
    private readonly ManualResetEventSlim _wake = new(false, 0);
    private readonly string _name;
    private readonly object _startGate = new();
    private Thread? _thread;
    private volatile bool _stopping;
    private int _awake; // 1 while the thread drains: no wake-up needed
    private long _closed;

    public DescriptorCloser(string name) => _name = name;

    /// <summary>Descriptors closed by the thread so far (tests).</summary>
    public long Closed => Interlocked.Read(ref _closed);

    /// <summary>Descriptors closed by every closer of this process so far (tests of real mounts).</summary>
    public static long ClosedInProcess => Interlocked.Read(ref s_closedInProcess);

    private static long s_closedInProcess;

    /// <summary>Closes <paramref name="fd"/> soon, on the closer's thread (at once on this one once disposed).</summary>
    public void Close(int fd)
    {
        if (_stopping)
        {
            Native.close(fd);
            return;
        }
        _queue.Enqueue(fd);
        if (_thread is null) Start();
        if (Volatile.Read(ref _awake) == 0) _wake.Set();
    }

    private void Start()
    {
        lock (_startGate)
        {
            if (_thread is not null) return;
            _thread = new Thread(Run) { IsBackground = true, Name = _name };
            _thread.Start();
        }
    }

    private void Run()
    {
        while (true)
        {
            _wake.Wait();
            // Awake: numbers queued from now on need no wake-up (a futex call, and the IPI of a wake-up of the other CPU,
            // paid on the thread serving requests for every FORGET). While they keep coming it drains them every
            // millisecond, and sleeps again (to be woken) once a millisecond brought none.
            Volatile.Write(ref _awake, 1);
            _wake.Reset();
            while (true)
            {
                bool any = false;
                while (_queue.TryDequeue(out int fd))
                {
                    // Counted first: whoever sees the descriptor gone also sees it counted.
                    Interlocked.Increment(ref _closed);
                    Interlocked.Increment(ref s_closedInProcess);
                    Native.close(fd);
                    any = true;
                }
                if (_stopping) return;
                if (!any) break;
                Thread.Sleep(1);
            }
            // A full fence between the store and the look at the queue (Close stores to the queue, then reads the flag):
            // one queued between the last drain and here that found it awake, and did not wake it, is seen and drained.
            Interlocked.Exchange(ref _awake, 0);
            if (!_queue.IsEmpty) _wake.Set();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        Thread? thread;
        lock (_startGate) thread = _thread;
        if (thread is not null)
        {
            _wake.Set();
            // A close that hangs (a stalled network host) must not hold the unmount: after 10 s the thread is left to
            // drain the rest once its close returns (it drains the whole queue before it looks at _stopping).
            if (!thread.Join(TimeSpan.FromSeconds(10))) return;
        }
        while (_queue.TryDequeue(out int fd)) Native.close(fd); // queued after its last drain
    }
}
