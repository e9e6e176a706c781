using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Device;

// FUSE over io_uring (kernel 6.14+, FUSE 7.42; module parameter fuse.enable_uring=Y), as a second transport.
//
// The protocol, as the kernel sources have it (fs/fuse/dev_uring.c, include/uapi/linux/fuse.h):
// - The daemon sets FUSE_OVER_IO_URING (bit 41, in flags2) in its INIT reply; the kernel only offers it when
//   enable_uring is on. After INIT (fc->initialized; earlier the command fails with EAGAIN) it submits, per ring
//   entry, an IORING_OP_URING_CMD on the /dev/fuse fd with cmd_op FUSE_IO_URING_CMD_REGISTER. The ring needs
//   IORING_SETUP_SQE128: struct fuse_uring_cmd_req {u64 flags; u64 commit_id; u16 qid; u8 pad[6]} lives in the
//   SQE's 80-byte cmd area. sqe->addr points at two iovecs: a header buffer (struct fuse_uring_req_header: 128-byte
//   in_out, 128-byte op_in, struct fuse_uring_ent_in_out {u64 flags; u64 commit_id; u32 payload_sz; u32 pad;
//   u64 reserved}; 288 bytes) and a payload buffer of at least max(8192, max_write, max_pages * PAGE_SIZE).
// - There is one queue per *possible* CPU (num_possible_cpus()); the kernel switches the connection to the ring
//   only once every queue has an entry available (is_ring_ready), until then every request waits. A request
//   goes to the queue of the CPU its caller runs on (task_cpu(current)), so each queue gets its own thread, pinned
//   to that CPU as libfuse does: the caller's wake-up then stays on its CPU.
// - A request arrives as the completion (res 0) of that entry's command: the fuse_in_header in in_out, the first
//   argument (the per-opcode header, possibly empty) in op_in, the rest in the payload buffer (payload_sz bytes),
//   commit_id = the request's unique. in_header.len still is the whole /dev/fuse length, so the op_in size is
//   len - 40 - payload_sz and the three parts concatenated are exactly what read(2) on /dev/fuse returns.
// - The reply goes in the same buffers: fuse_out_header in in_out, everything after it in the payload,
//   ring_ent_in_out.payload_sz its length; then FUSE_IO_URING_CMD_COMMIT_AND_FETCH with commit_id = unique commits it
//   and makes the entry wait for the next request, in one command. Notifications (unique 0) are refused there.
// - FORGET, INTERRUPT (and their replies) and notifications stay on /dev/fuse (fuse_io_uring_ops send_forget /
//   send_interrupt are the /dev/fuse ones), so its reader keeps running beside the queues.
// - Unmount or abort ends every entry's command with -ENOTCONN (fuse_uring_stop_queues); a process that exits
//   cancels them (IO_URING_F_CANCEL). Task work for a command (copying a request into our buffers) runs in the task
//   that submitted it, so only the queue's own thread submits, and it never exits while the connection lives.
//
// How it fits the engine ("a transport is a device"): each queue is an IFuseDevice. Its reader (DeviceReader, the
// queue's own thread) calls Read, which submits every pending commit and waits for the next completion in one
// io_uring_enter, then copies the request into the reader's buffer as /dev/fuse would. The Connection writes the
// reply to the device the request came from: Write finds the entry by unique, copies the reply into its buffers and
// queues the COMMIT_AND_FETCH. On the queue's thread (the inline dispatcher's common case) it is submitted at once
// when no completion (a request, mostly) waits in the ring, else with the next wait (see QueueCommit); from any other
// thread the queue is woken through an eventfd the ring keeps a read pending on.
// The /dev/fuse device is wrapped (ControlDevice) to see INIT go by: the reply's flags say whether the kernel took
// io_uring, and its max_write / max_pages size the payload buffers; only then do the queues register.

/// <summary>Which transport carries a mounted connection's requests (<c>fuseactors.connection.transport</c>).</summary>
public enum FuseTransport
{
    /// <summary>read(2)/writev(2) on /dev/fuse (and its clones).</summary>
    Device,
    /// <summary>FUSE over io_uring; the mount fails with a clear message when the kernel does not offer it.</summary>
    IoUring,
    /// <summary>io_uring when the kernel offers it, else /dev/fuse.</summary>
    Auto,
}

/// <summary>
/// FUSE over io_uring for one connection: the /dev/fuse device wrapped as <see cref="ControlDevice"/> (INIT, FORGET,
/// INTERRUPT, notifications) and one <see cref="IoUringFuseQueue"/> per possible CPU. See the comment at the top of
/// this file for the protocol.
/// </summary>
public sealed class IoUringFuseTransport : IDisposable
{
    private const string EnableUringPath = "/sys/module/fuse/parameters/enable_uring";
    private readonly ManualResetEventSlim _decided = new(false);
    private readonly IdlePolicyGuard? _idlePolicyGuard;
    private long _served;

    /// <param name="idlePriority">Run each queue's thread under SCHED_IDLE (see <see cref="IoUringFuseQueue.AtIdlePriority"/>).</param>
    public IoUringFuseTransport(LinuxFuseDevice device, int queueDepth = 8, bool pinQueues = true, bool idlePriority = false)
    {
        Device = device;
        ControlDevice = new UringControlDevice(device, this);
        int n = PossibleCpus();
        var queues = new IoUringFuseQueue[n];
        for (int q = 0; q < n; q++) queues[q] = new IoUringFuseQueue(this, q, Math.Max(1, queueDepth), pinQueues, idlePriority);
        Queues = queues;
        if (idlePriority) _idlePolicyGuard = new IdlePolicyGuard(IsQueueThread);
    }

    private bool IsQueueThread(int tid)
    {
        foreach (var q in Queues) if (q.ThreadId == tid) return true;
        return false;
    }

    /// <summary>With idle-priority queues: sets threads of the runtime and io_uring workers that inherited SCHED_IDLE from
    /// a queue thread back to SCHED_OTHER now, as a timer does every few seconds (<see cref="IdlePolicyGuard"/>); returns
    /// how many. 0 without idle-priority queues.</summary>
    public int ResetInheritedIdlePolicies() => _idlePolicyGuard?.Sweep() ?? 0;

    /// <summary>True when this process leads its own session (a service, a setsid'd process), and so has its session's
    /// scheduling group (autogroup) to itself: where queue threads at idle priority compete only with the process's
    /// own threads for the CPU.</summary>
    public static bool ProcessLeadsItsSession => IoUringFuseQueue.SessionOf(0) == Environment.ProcessId;

    /// <summary>False where this build does not know the system call numbers to set a thread's policy (architectures other
    /// than x86_64 and arm64): there io-uring-idle-priority cannot be honoured.</summary>
    public static bool CanSetIdlePriority => IoUringFuseQueue.CanSetSchedulingPolicy;

    public LinuxFuseDevice Device { get; }
    /// <summary>The /dev/fuse device as the connection's first queue: INIT, FORGET, INTERRUPT, notifications.</summary>
    public IFuseDevice ControlDevice { get; }
    /// <summary>One queue per possible CPU; qid = CPU number.</summary>
    public IReadOnlyList<IoUringFuseQueue> Queues { get; }
    /// <summary>The control device first, then the queues: what the connection serves.</summary>
    public IFuseDevice[] AllDevices => [ControlDevice, .. Queues];
    /// <summary>Requests that came over io_uring so far.</summary>
    public long RequestsServed => Interlocked.Read(ref _served);
    /// <summary>True once INIT was answered with FUSE_OVER_IO_URING (the queues register then).</summary>
    public bool Active { get; private set; }
    /// <summary>Why the queues did not start (INIT without io_uring, a failed setup), or null.</summary>
    public string? DeclinedReason { get; private set; }
    internal int PayloadSize { get; private set; }
    /// <summary>Why the connection ended because a queue failed while it lived, or null. The kernel still sends that
    /// CPU's requests to the queue, so nothing will answer them: the mount has to be aborted.</summary>
    public string? Failure { get; private set; }

    internal void QueueFailed(int qid, Errno error) => Failure ??= $"io_uring queue {qid} ended ({error})";
    internal bool Disposed { get; private set; }

    internal void CountServed() => Interlocked.Increment(ref _served);

    /// <summary>Is FUSE over io_uring switched on (the fuse module's enable_uring parameter)? Null if the kernel has no such parameter.</summary>
    public static bool? KernelEnabled()
    {
        try
        {
            var text = File.ReadAllText(EnableUringPath).Trim();
            return text is "Y" or "1";
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>What <paramref name="requested"/> comes to here: Device or IoUring. Throws for IoUring when it cannot
    /// be had, saying why (and how to turn it on, where it is switched off).</summary>
    public static FuseTransport Resolve(FuseTransport requested) => Resolve(requested, out _);

    /// <summary>As <see cref="Resolve(FuseTransport)"/>; <paramref name="unavailable"/> says why io_uring was not
    /// taken when <c>auto</c> comes to Device.</summary>
    public static FuseTransport Resolve(FuseTransport requested, out string? unavailable)
    {
        unavailable = null;
        if (requested == FuseTransport.Device) return FuseTransport.Device;
        unavailable = Unavailable();
        if (unavailable is null) return FuseTransport.IoUring;
        if (requested == FuseTransport.Auto) return FuseTransport.Device;
        throw FuseDeviceException.WithMessage(Errno.EOPNOTSUPP, "fuseactors.connection.transport = io-uring, but " + unavailable);
    }

    /// <summary>Null when this process can serve FUSE over io_uring, else why not. The ring is tried here, before
    /// INIT: once INIT's reply asks for io_uring the kernel holds every request until each CPU's queue has registered,
    /// so a queue that cannot make its ring would leave the mount hanging instead of failing it.</summary>
    public static string? Unavailable()
    {
        var enabled = KernelEnabled();
        if (enabled is null)
            return "this kernel has no FUSE over io_uring (Linux 6.14+ with CONFIG_FUSE_IO_URING; " + EnableUringPath + " is missing)";
        if (enabled == false)
            return "FUSE over io_uring is switched off: as root, echo Y > " + EnableUringPath + " (or use transport = auto or device)";
        int err = IoUringFuseQueue.ProbeRing();
        if (err != 0)
            return $"this process may not make an io_uring ({(Errno)err}; the sysctl kernel.io_uring_disabled, a seccomp policy or the container runtime forbids it)";
        return null;
    }

    /// <summary>CPUs the kernel counts as possible (/sys/devices/system/cpu/possible): the kernel makes one queue for each.</summary>
    public static int PossibleCpus()
    {
        try
        {
            int max = -1;
            foreach (var part in File.ReadAllText("/sys/devices/system/cpu/possible").Trim().Split(','))
            {
                var range = part.Split('-');
                max = Math.Max(max, int.Parse(range[^1]));
            }
            return max + 1;
        }
        catch (Exception) { return Environment.ProcessorCount; }
    }

    /// <summary>Called by the control device once the INIT reply is written.</summary>
    internal void Decide(bool accepted, uint maxWrite, ushort maxPages, string? reason)
    {
        lock (_decided)
        {
            if (_decided.IsSet) return;
            Active = accepted;
            DeclinedReason = accepted ? null : reason;
            uint pages = maxPages == 0 ? 32u : maxPages;
            // The kernel refuses to register an entry whose payload buffer is below max_pages * its PAGE_SIZE, which is
            // 16 or 64 KiB on some arm64 kernels: the machine's page size, not FuseConstants.PageSize.
            PayloadSize = (int)Math.Max(Math.Max((uint)FuseConstants.MinReadBuffer, maxWrite), pages * (uint)Environment.SystemPageSize);
            _decided.Set();
        }
    }

    /// <summary>Blocks a queue's thread until INIT was answered (or the transport closed). True when io_uring is on.</summary>
    internal bool WaitForDecision()
    {
        _decided.Wait();
        return Active && !Disposed;
    }

    public void Dispose()
    {
        if (Disposed) return;
        Disposed = true;
        _idlePolicyGuard?.Dispose();
        foreach (var q in Queues) q.Dispose();
        Decide(false, 0, 0, "closed before INIT was answered");
        ControlDevice.Dispose();
    }

    /// <summary>/dev/fuse as seen by the connection, watching INIT go by to start the queues.</summary>
    private sealed class UringControlDevice(LinuxFuseDevice inner, IoUringFuseTransport transport) : ICloneableFuseDevice, IPassthroughDevice
    {
        private ulong _initUnique;
        private bool _offered;

        public string Name => inner.Name;

        public int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (n >= 64 && _initUnique == 0 && BitConverter.ToUInt32(buffer[4..]) == (uint)Opcode.Init)
            {
                _initUnique = BitConverter.ToUInt64(buffer[8..]);
                ulong flags = BitConverter.ToUInt32(buffer[52..]);
                if (n >= 60 && (flags & (ulong)InitFlags.InitExt) != 0) flags |= (ulong)BitConverter.ToUInt32(buffer[56..]) << 32;
                _offered = (flags & (ulong)InitFlags.OverIoUring) != 0;
            }
            return n;
        }

        public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
        {
            int written = inner.Write(head, payload);
            if (_initUnique != 0 && BitConverter.ToUInt64(head[8..]) == _initUnique)
            {
                _initUnique = ulong.MaxValue; // seen once
                int error = BitConverter.ToInt32(head[4..]);
                if (written < 0 || error != 0 || payload.Length < 36)
                    transport.Decide(false, 0, 0, "INIT failed");
                else
                {
                    uint flags2 = BitConverter.ToUInt32(payload[32..]);
                    bool accepted = (((ulong)flags2 << 32) & (ulong)InitFlags.OverIoUring) != 0;
                    transport.Decide(accepted, BitConverter.ToUInt32(payload[20..]), BitConverter.ToUInt16(payload[28..]),
                        accepted ? null : _offered ? "INIT reply did not ask for io_uring" : "the kernel did not offer FUSE_OVER_IO_URING in INIT (enable_uring off?)");
                }
            }
            return written;
        }

        public IFuseDevice Clone() => inner.Clone();
        public int OpenBacking(int fd) => inner.OpenBacking(fd);
        public int CloseBacking(int backingId) => inner.CloseBacking(backingId);
        public void Dispose()
        {
            transport.Decide(false, 0, 0, "closed before INIT was answered"); // no queue waits for an INIT that will not come
            inner.Dispose();
        }
    }
}

/// <summary>
/// One FUSE io_uring queue (one CPU): its own io_uring with SQE128, <c>depth</c> registered entries (header and
/// payload buffers each), and an eventfd read that wakes it for replies written on other threads. Read and all
/// submissions happen on the thread that reads it (its DeviceReader); Write may come from any thread.
/// Backing files for kernel passthrough are registered on /dev/fuse (the ioctl is the device's), so an OPEN that
/// arrived through a ring can still answer with FOPEN_PASSTHROUGH.
/// </summary>
public sealed unsafe class IoUringFuseQueue : IFuseDevice, IPassthroughDevice, IFileReplyDevice, IInPlaceReplyDevice, IRingFileReadDevice, IRequestQueueProbe
{
    private const int HeaderSize = 288;            // sizeof(struct fuse_uring_req_header)
    private const int HeaderBufferSize = 4096;     // page-sized, as libfuse allocates it
    private const int RingEntInOutOffset = 256;    // fuse_uring_req_header.ring_ent_in_out
    private const int OpInOffset = 128;            // fuse_uring_req_header.op_in
    private const int OpInSize = 128;              // FUSE_URING_OP_IN_OUT_SZ
    private const uint CmdRegister = 1;            // FUSE_IO_URING_CMD_REGISTER
    private const uint CmdCommitAndFetch = 2;      // FUSE_IO_URING_CMD_COMMIT_AND_FETCH
    private const ulong EventFdTag = ulong.MaxValue;
    // A file read into an entry's buffer (StartFileRead): this bit, or'ed with the entry's index.
    private const ulong FileReadTag = 1UL << 62;
    /// <summary><see cref="Read"/>'s answer when it took no request but file reads ended (<see cref="StartFileRead"/>):
    /// the reader ends them (<see cref="EndFileReads"/>) and reads again.</summary>
    public const int FileReadsEnded = int.MinValue;
    private const int PageSize = 4096;
    /// <summary>WRITEs with at least this much data leave it in the entry (<see cref="LentPayload"/>): below, the copy
    /// costs less than keeping the entry.</summary>
    internal const int LendThreshold = 32 * 1024;

    private const int StateIdle = 0, StateInRead = 1, StateDisposed = 2;

    private readonly IoUringFuseTransport _transport;
    private readonly int _qid;
    private readonly int _depth;
    private readonly bool _pin;
    private readonly bool _idlePriority;
    private readonly Entry[] _entries;
    private readonly ConcurrentQueue<int> _remoteCommits = new();
    private readonly List<int> _localCommits = new();
    // Commits held back because a lease was using the entry's data (LentPayload.ReadyToCommit): tried again first.
    private readonly List<int> _heldCommits = new();
    private LentPayload? _lastLent;
    // File reads whose completion came (StartFileRead), to be ended by EndFileReads outside Read; the spare list takes
    // the next ones while a list is being ended.
    private List<EndedRead> _endedReads = new(), _spareEndedReads = new();
    // Completions taken from the ring while looking for ended file reads elsewhere than in Read (ReapFileReads), for
    // Read to take first, in their order.
    private readonly Queue<(ulong UserData, int Result)> _stashed = new();
    private long _lastTicket;
    private long _leasesLeftOpen;
    private Ring? _ring;
    private int _eventFd = -1;
    // The same descriptor, for writes from other threads: a write holds a reference, so Teardown's close waits for it
    // and the number cannot be reused for another file while a wake-up is on its way (it would get 8 bytes).
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _eventHandle;
    private byte[]? _eventBuffer;
    private int _ownerThread;
    private int _state;
    private bool _setupFailed;
    private long _served;

    internal IoUringFuseQueue(IoUringFuseTransport transport, int qid, int depth, bool pin, bool idlePriority)
    {
        _transport = transport;
        _qid = qid;
        _depth = depth;
        _pin = pin;
        _idlePriority = idlePriority;
        _entries = new Entry[depth];
    }

    public string Name => $"io_uring queue {_qid}";

    internal static int SessionOf(int pid) => Native.getsid(pid);

    internal const int SchedOther = 0, SchedIdle = 5;

    /// <summary>False where this architecture's system call number for sched_setscheduler is not known here.</summary>
    internal static bool CanSetSchedulingPolicy => Native.SysSchedSetscheduler > 0;

    /// <summary>Sets thread <paramref name="tid"/>'s scheduling policy (0: the calling thread) with priority 0 (system
    /// call, not libc: musl's sched_setscheduler only answers ENOSYS). False where that failed, or where this
    /// architecture's system call number is not known here. Going to SCHED_IDLE never needs a privilege; leaving it does
    /// (CAP_SYS_NICE, or an RLIMIT_NICE that allows the thread's nice value: 20 for nice 0), so an unprivileged daemon's
    /// <see cref="IdlePolicyGuard"/> cannot undo an inherited SCHED_IDLE.</summary>
    internal static bool SetSchedulingPolicy(int tid, int policy)
    {
        if (!CanSetSchedulingPolicy) return false;
        int priority = 0; // struct sched_param { int sched_priority; }
        return Native.syscall(Native.SysSchedSetscheduler, tid, policy, (long)&priority, 0, 0, 0) == 0;
    }

    /// <summary>The Linux thread id of the thread that serves this queue, once it set the ring up (0 before).</summary>
    public int ThreadId => Volatile.Read(ref _threadId);
    private int _threadId;

    /// <summary>
    /// True once the queue's thread runs under SCHED_IDLE (fuseactors.connection.io-uring-idle-priority). Why: the kernel
    /// puts a request in the queue of its caller's CPU, and the reply wakes the caller while this thread still runs there.
    /// The scheduler then looks for an idle CPU for the caller, finds the other one, and the caller's next request goes
    /// to the other queue, whose thread wakes on a halted vCPU (~20-40 us here). Measured on this machine, with the daemon in
    /// its own session as a service runs: the caller moved on nearly every request, one stat took 17-30 us, where a CPU
    /// running only SCHED_IDLE threads counts as idle and the caller stays: 8-11 us, ~20 moves in 50 000 stats. The price:
    /// a SCHED_IDLE thread gets the CPU only when no other thread of its scheduling group wants it, so CPU-bound work in
    /// the daemon's own group (its session, or its cgroup) starves the queues (see reference.conf).
    /// </summary>
    public bool AtIdlePriority { get; private set; }

    /// <summary>Records that this queue ended while its connection lived, which ends the connection (see <see cref="IoUringFuseTransport.Failure"/>).</summary>
    public void ReportLost(Errno reason) => _transport.QueueFailed(_qid, reason);
    public int QueueId => _qid;

    public int OpenBacking(int fd) => _transport.Device.OpenBacking(fd);
    public int CloseBacking(int backingId) => _transport.Device.CloseBacking(backingId);
    /// <summary>Requests this queue received from the kernel.</summary>
    public long RequestsServed => Interlocked.Read(ref _served);

    /// <summary>READs this queue answered by reading a file straight into an entry (<see cref="ReplyFromFile"/>).</summary>
    public long FileReplies => Interlocked.Read(ref _fileReplies);

    /// <summary>Replies a filesystem wrote into an entry itself (<see cref="IInPlaceReplyDevice"/>).</summary>
    public long InPlaceReplies => Interlocked.Read(ref _inPlaceReplies);
    private long _fileReplies, _inPlaceReplies, _ringFileReads;

    /// <summary>READs this queue answered with a file read submitted on its ring (<see cref="StartFileRead"/>).</summary>
    public long RingFileReads => Interlocked.Read(ref _ringFileReads);

    /// <summary>The most file reads this queue had in flight at once (<see cref="StartFileRead"/>).</summary>
    public int MostFileReadsInFlight => Volatile.Read(ref _mostFileReadsInFlight);
    // Written by the queue's thread only: reads not yet told how they ended, the most of those at once, and those whose
    // completion has not come yet (the kernel may still write into their entries' buffers).
    private int _fileReadsInFlight, _mostFileReadsInFlight, _fileReadsAwaitingCompletion;
    // Set when the reader ends (AbandonFileReads): no read starts after it, since nothing would end it.
    private bool _fileReadsAbandoned;

    private struct EndedRead
    {
        public int Slot;
        public int Result;
        public IRingFileRead? Read;
        public int Sent; // bytes of the reply sent, header included; -1: nothing sent
    }

    /// <summary>WRITEs whose data the daemon never copied (leased in place; see <see cref="LentPayload"/>).</summary>
    public long InPlaceWrites => SumOverEntries(static lent => lent.Leases);

    /// <summary>Lent WRITE data copied out at its entry's commit (<see cref="LentPayload.CommitCopies"/>).</summary>
    public long CommitCopies => SumOverEntries(static lent => lent.CommitCopies);

    private long SumOverEntries(Func<LentPayload, long> count)
    {
        long n = 0;
        foreach (var e in _entries) if (e is not null) n += count(e.Lent);
        return n;
    }

    /// <summary>Leases of WRITE data a filesystem never ended, ended by the queue (<see cref="EndLeasesLeftOpen"/>).</summary>
    public long LeasesLeftOpen => Interlocked.Read(ref _leasesLeftOpen);

    /// <summary>
    /// The queue's thread, back at the top of the reader's loop, before it reads again, while a lease taken on it is still
    /// open (<see cref="LentPayload.LeasesOpenOnThisThread"/>): nothing on this thread can still be using the data
    /// there (a lease is a ref struct), so the filesystem never disposed it. Ends every such lease, so that its entry
    /// goes back to the kernel (held, it would never be committed: the queue one entry short for good, and an early
    /// answer from another thread waiting for the lease forever). Returns how many it ended.
    /// </summary>
    public int EndLeasesLeftOpen()
    {
        if (!OnOwnerThread) return 0;
        int ended = 0;
        foreach (var e in _entries) if (e is not null && e.Lent.EndLeaseLeftOpen()) ended++;
        if (ended > 0) Interlocked.Add(ref _leasesLeftOpen, ended);
        return ended;
    }

    /// <summary>The queue's thread, right after <see cref="Read"/> returned a WRITE: its data when it was left in the
    /// entry (then the request's buffer holds all but the data), with the ticket to name it by; else null.</summary>
    public LentPayload? TakeLent(out long ticket)
    {
        var lent = _lastLent;
        ticket = _lastTicket;
        _lastLent = null;
        return lent;
    }

    private sealed class Entry
    {
        public required byte[] Header;   // pinned, HeaderBufferSize
        public required byte[] Payload;  // pinned, PayloadSize + a page: the buffer starts at PayloadOffset
        public required int PayloadOffset; // where a page starts in Payload: an O_DIRECT host write can take lent data
        public required LentPayload Lent;
        public required byte[] IoVecs;   // pinned, two struct iovec
        public ulong CommitId;           // unique of the request it holds, 0 when waiting in the kernel
        public uint LastCmd;             // the command in flight for it, and its commit id (to submit it again on EAGAIN)
        public ulong LastCommitId;
        public IRingFileRead? FileRead;  // a file read into Payload in flight for its request (StartFileRead), or ended and not yet told
        public int FileReadLength;
        // Its file read's completion has not come: the kernel may still write into Payload, so the entry is not handed
        // out for a reply (FindEntry) until it comes, whoever asks (a late reply, a fallback after an abandon).
        public volatile bool ReadOutstanding;
    }

    // ------------------------------------------------------------------ read (the queue's thread)

    public int Read(Span<byte> buffer)
    {
        if (Interlocked.CompareExchange(ref _state, StateInRead, StateIdle) != StateIdle) return -(int)Errno.ENODEV;
        try
        {
            return ReadCore(buffer);
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateIdle, StateInRead) != StateInRead) Teardown();
        }
    }

    private int ReadCore(Span<byte> buffer)
    {
        if (_ring is null)
        {
            if (_setupFailed || !_transport.WaitForDecision()) return -(int)Errno.ENODEV;
            int err = Setup();
            if (err != 0)
            {
                _setupFailed = true;
                return -err;
            }
        }
        var ring = _ring!;
        while (true)
        {
            if (Volatile.Read(ref _state) == StateDisposed) return -(int)Errno.ENODEV;
            while (NextCompletion(ring, out ulong userData, out int res))
            {
                if (userData == EventFdTag)
                {
                    ArmEventFd();
                    continue;
                }
                if ((userData & FileReadTag) != 0)
                {
                    CollectEndedRead(userData, res);
                    continue;
                }
                var entry = _entries[(int)userData];
                if (res == 0)
                {
                    int n = CopyRequest(entry, buffer);
                    if (n > 0) return n;
                    continue;
                }
                if (res == -(int)Errno.EAGAIN || res == -(int)Errno.EINTR)
                {
                    Submit(entry, (int)userData, entry.LastCmd, entry.LastCommitId);
                    continue;
                }
                // ENOTCONN / ECONNABORTED: unmounted or aborted; anything else ends the queue as well.
                return res is -(int)Errno.ENOTCONN or -(int)Errno.ECONNABORTED or -(int)Errno.ENODEV ? -(int)Errno.ENODEV : res;
            }
            if (_endedReads.Count > 0) return FileReadsEnded;
            DrainRemoteCommits();
            int submitted = ring.Enter(1);
            if (submitted < 0 && submitted != -(int)Errno.EINTR && submitted != -(int)Errno.EAGAIN && submitted != -(int)Errno.EBUSY)
                return submitted;
        }
    }

    /// <summary>The next completion: one stashed by <see cref="ReapFileReads"/> first, then the ring's.</summary>
    private bool NextCompletion(Ring ring, out ulong userData, out int res)
    {
        if (_stashed.TryDequeue(out var stashed))
        {
            (userData, res) = stashed;
            return true;
        }
        if (!ring.TryPeekCompletion(out userData, out res)) return false;
        ring.AdvanceCompletion();
        return true;
    }

    /// <summary>Submits the replies written so far without waiting, on the queue's own thread (nothing elsewhere): the
    /// reader calls it while it waits for credit, and before slow work it does itself (FsRequest.FlushEarlierReplies).</summary>
    public void Flush()
    {
        if (_ring is null || !OnOwnerThread) return;
        SubmitReplies(evenWithRequestsWaiting: true);
    }

    /// <summary>On the queue's own thread: submits the replies written so far without waiting; unless
    /// <paramref name="evenWithRequestsWaiting"/>, only when no completion (a request, mostly) waits in the ring (then
    /// they go with the next wait). The state guard keeps the ring mapped meanwhile (a Dispose now tears it down after).</summary>
    private void SubmitReplies(bool evenWithRequestsWaiting)
    {
        if (Interlocked.CompareExchange(ref _state, StateInRead, StateIdle) != StateIdle) return;
        try
        {
            var ring = _ring!;
            if (evenWithRequestsWaiting || !ring.HasCompletions)
            {
                DrainRemoteCommits();
                if (ring.Pending > 0) ring.Enter(0);
            }
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateIdle, StateInRead) != StateInRead) Teardown();
        }
    }

    /// <summary>Completions not yet taken: requests the kernel placed in this queue's entries (an eventfd wake-up may
    /// count as one). Asked only on the queue's own thread, which is where a handler runs inline; elsewhere false.</summary>
    public bool RequestsWaiting()
    {
        if (_ring is null || !OnOwnerThread) return false;
        if (Interlocked.CompareExchange(ref _state, StateInRead, StateIdle) != StateIdle) return false;
        try
        {
            return _ring.HasCompletions || _stashed.Count > 0;
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateIdle, StateInRead) != StateInRead) Teardown();
        }
    }

    /// <summary>True on the thread that reads some io_uring queue: its CPU's callers' next requests wait for whatever
    /// else it does (where a /dev/fuse reader's work leaves the device to the other readers).</summary>
    public static bool OnAnyQueueThread => t_queueThread;

    [ThreadStatic] private static bool t_queueThread;

    /// <summary>True on the thread that reads this queue (the only one that submits to its ring).</summary>
    public bool OnOwnerThread => _ownerThread != 0 && Environment.CurrentManagedThreadId == Volatile.Read(ref _ownerThread);

    /// <summary>Replies are waiting to be submitted by the queue's thread.</summary>
    public bool HasPendingReplies => !_remoteCommits.IsEmpty || _localCommits.Count > 0 || _heldCommits.Count > 0 || (_ring?.Pending ?? 0) > 0;

    private int CopyRequest(Entry entry, Span<byte> buffer)
    {
        _lastLent = null;
        var h = entry.Header.AsSpan();
        uint len = BitConverter.ToUInt32(h);
        ulong commitId = BitConverter.ToUInt64(h[(RingEntInOutOffset + 8)..]);
        int payloadSize = (int)BitConverter.ToUInt32(h[(RingEntInOutOffset + 16)..]);
        int opSize = (int)len - FuseConstants.InHeaderSize - payloadSize;
        if (opSize < 0 || opSize > OpInSize || len > buffer.Length || payloadSize > _transport.PayloadSize)
        {
            // Cannot happen with a sane kernel; answer EIO so the entry is not lost.
            WriteInto(entry, commitId, Errno.EIO, default);
            Submit(entry, Array.IndexOf(_entries, entry), CmdCommitAndFetch, commitId);
            return 0;
        }
        h[..FuseConstants.InHeaderSize].CopyTo(buffer);
        h.Slice(OpInOffset, opSize).CopyTo(buffer[FuseConstants.InHeaderSize..]);
        if (payloadSize >= LendThreshold && BitConverter.ToUInt32(h[4..]) == (uint)Opcode.Write)
        {
            // Left in the entry: copied on first use, or never (LentPayload).
            _lastLent = entry.Lent;
            _lastTicket = entry.Lent.Lend(payloadSize, FuseConstants.InHeaderSize + opSize);
        }
        else PayloadSpan(entry, payloadSize).CopyTo(buffer[(FuseConstants.InHeaderSize + opSize)..]);
        Volatile.Write(ref entry.CommitId, commitId);
        Interlocked.Increment(ref _served);
        _transport.CountServed();
        if (BitConverter.ToUInt32(h[4..]) == (uint)Opcode.NotifyReply)
        {
            // The connection never answers a NOTIFY_REPLY, but a ring entry only comes back with a commit.
            WriteInto(entry, commitId, Errno.Ok, default);
            Volatile.Write(ref entry.CommitId, 0);
            Submit(entry, Array.IndexOf(_entries, entry), CmdCommitAndFetch, commitId);
        }
        return (int)len;
    }

    // ------------------------------------------------------------------ write (any thread)

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        if (head.Length < FuseConstants.OutHeaderSize) return -(int)Errno.EINVAL;
        if (Volatile.Read(ref _state) == StateDisposed) return -(int)Errno.ENODEV;
        ulong unique = BitConverter.ToUInt64(head[8..]);
        if (unique == 0) return _transport.ControlDevice.Write(head, payload); // notifications only go over /dev/fuse
        int index = FindEntry(unique);
        if (index < 0) return -(int)Errno.ENOENT;
        var entry = _entries[index];
        if (payload.Length > _transport.PayloadSize)
        {
            // The kernel never asks for more than the buffer holds; still, an entry must always come back: EIO.
            WriteInto(entry, unique, Errno.EIO, default);
            QueueCommit(index);
            return -(int)Errno.EINVAL;
        }
        var error = (Errno)(-BitConverter.ToInt32(head[4..]));
        WriteInto(entry, unique, error, payload);
        QueueCommit(index);
        return head.Length + payload.Length;
    }

    /// <summary>Reads the file straight into the ring entry's payload buffer: one copy in the daemon where a buffer the
    /// filesystem filled is copied in once more.</summary>
    public int ReplyFromFile(ulong unique, int fd, long offset, int length, out int writeResult)
    {
        if (Volatile.Read(ref _state) == StateDisposed)
        {
            writeResult = -(int)Errno.ENODEV;
            return -(int)Errno.ENODEV;
        }
        int index = FindEntry(unique);
        if (index < 0)
        {
            writeResult = -(int)Errno.ENOENT; // the kernel no longer waits for it
            return -(int)Errno.ENOENT;
        }
        var entry = _entries[index];
        if (length < 0 || length > _transport.PayloadSize)
        {
            // The kernel never asks for more than the buffer holds; a shortened reply would read as end of file: EIO.
            WriteHeader(entry, unique, Errno.EIO, 0);
            QueueCommit(index);
            writeResult = FuseConstants.OutHeaderSize;
            return -(int)Errno.EIO;
        }
        Interlocked.Increment(ref _fileReplies);
        int done = FileRead.Fully(fd, PayloadSpan(entry, length), offset);
        if (done < 0)
        {
            WriteHeader(entry, unique, (Errno)(-done), 0);
            QueueCommit(index);
            writeResult = FuseConstants.OutHeaderSize;
            return done;
        }
        WriteHeader(entry, unique, Errno.Ok, done);
        QueueCommit(index);
        writeResult = FuseConstants.OutHeaderSize + done;
        return done;
    }

    public Span<byte> BeginInPlaceReply(ulong unique, int length, out int slot)
    {
        slot = -1;
        if (Volatile.Read(ref _state) == StateDisposed || length < 0 || length > _transport.PayloadSize) return default;
        slot = FindEntry(unique);
        return slot < 0 ? default : PayloadSpan(_entries[slot], length);
    }

    public int EndInPlaceReply(int slot, ulong unique, int length)
    {
        if (Volatile.Read(ref _state) == StateDisposed) return -(int)Errno.ENODEV; // the kernel ended it with the queue
        var entry = _entries[slot];
        Interlocked.Increment(ref _inPlaceReplies);
        WriteHeader(entry, unique, Errno.Ok, length);
        QueueCommit(slot);
        return FuseConstants.OutHeaderSize + length;
    }

    // ------------------------------------------------------------------ file reads on the ring (the queue's thread)

    /// <summary>
    /// Submits a read of the file into request <paramref name="unique"/>'s entry buffer on this queue's ring, and returns
    /// at once: the thread serves other requests while the read is in flight (many at once where a blocking read would
    /// take them one after the other), and its completion comes back with the requests, to be ended by the reader
    /// (<see cref="EndFileReads"/>). See <see cref="IRingFileReadDevice.StartFileRead"/>.
    /// </summary>
    public bool StartFileRead(ulong unique, int fd, long offset, int length, IRingFileRead read)
    {
        if (!OnOwnerThread || _fileReadsAbandoned || length < 0 || length > _transport.PayloadSize || offset < 0) return false;
        if (Interlocked.CompareExchange(ref _state, StateInRead, StateIdle) != StateIdle) return false;
        try
        {
            var ring = _ring;
            int slot = FindEntry(unique);
            if (ring is null || slot < 0 || _entries[slot].FileRead is not null) return false;
            var entry = _entries[slot];
            // The replies written so far go with the read (first: what can throw does so before the read is ours).
            DrainRemoteCommits();
            var sqe = ring.NextSqe(); // (room for it: the entry's own command is not in the ring while its request is served)
            entry.FileRead = read;
            entry.FileReadLength = length;
            entry.ReadOutstanding = true;
            if (++_fileReadsInFlight > _mostFileReadsInFlight) Volatile.Write(ref _mostFileReadsInFlight, _fileReadsInFlight);
            _fileReadsAwaitingCompletion++;
            sqe[0] = Ring.OpRead;
            *(int*)(sqe + 4) = fd;
            *(long*)(sqe + 8) = offset;                                   // off
            fixed (byte* payload = entry.Payload) *(ulong*)(sqe + 16) = (ulong)(payload + entry.PayloadOffset); // addr (pinned)
            *(uint*)(sqe + 24) = (uint)length;                            // len
            *(ulong*)(sqe + 32) = FileReadTag | (uint)slot;               // user_data
            ring.Push();
            // Submitted now: the read is issued in this call (an O_DIRECT one goes to the device from here; what would
            // block goes to io_uring's own workers). A failed submission leaves it pending for the queue's next wait.
            ring.Enter(0);
            return true;
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateIdle, StateInRead) != StateInRead) Teardown();
        }
    }

    private void CollectEndedRead(ulong userData, int result)
    {
        int slot = (int)(userData & ~FileReadTag);
        _fileReadsAwaitingCompletion--;
        _entries[slot].ReadOutstanding = false;
        _endedReads.Add(new EndedRead { Slot = slot, Result = result, Sent = -1 });
    }

    /// <summary>File reads in flight or ended and not yet told (<see cref="StartFileRead"/>).</summary>
    private bool HasFileReads => _fileReadsInFlight > 0; // (counts the entries whose FileRead is set)

    /// <summary>
    /// On the queue's thread, outside <see cref="Read"/>: takes the file reads that ended from the ring without waiting
    /// (the completions ahead of them and between them are kept, in order, for Read) and ends them. For a reader that
    /// waits for credit: the reads it started hold credit until they end, and only this thread ends them.
    /// </summary>
    public void ReapFileReads()
    {
        if (!OnOwnerThread || !HasFileReads) return;
        TakeFileReadCompletions(waitForAll: false);
        EndFileReads();
    }

    /// <summary>Moves the file reads' completions from the ring to the ended list, the others to the stash, in order;
    /// with <paramref name="waitForAll"/>, waits (io_uring_enter, 100 ms at a time) until no read's completion is
    /// missing, the queue is disposed, or 10 s have passed. Nothing once the queue is disposed (its ring is closed, or is
    /// being closed).</summary>
    private void TakeFileReadCompletions(bool waitForAll)
    {
        if (Interlocked.CompareExchange(ref _state, StateInRead, StateIdle) != StateIdle) return;
        try
        {
            var ring = _ring;
            if (ring is null) return;
            long deadline = Environment.TickCount64 + 10_000;
            while (true)
            {
                while (ring.TryPeekCompletion(out ulong userData, out int res))
                {
                    ring.AdvanceCompletion();
                    if (userData != EventFdTag && (userData & FileReadTag) != 0) CollectEndedRead(userData, res);
                    else _stashed.Enqueue((userData, res));
                }
                if (!waitForAll || _fileReadsAwaitingCompletion <= 0 || Environment.TickCount64 > deadline) return;
                if (Volatile.Read(ref _state) == StateDisposed) return; // (its eventfd read may be in the stash: no wake-up)
                int r = ring.Enter(1, timeoutMs: 100);
                if (r < 0 && r != -(int)Errno.ETIME && r != -(int)Errno.EINTR) return;
            }
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _state, StateIdle, StateInRead) != StateInRead) Teardown();
        }
    }

    /// <summary>
    /// On the queue's thread, outside <see cref="Read"/> (which collects them): ends the file reads whose completions
    /// came. Each is offered its bytes (<see cref="IRingFileRead.Filled"/>); the replies it accepts are submitted
    /// together, and only then is each told how it ended (<see cref="IRingFileRead.Ended"/>), which may run actors
    /// inline: the replies do not wait for them.
    /// </summary>
    public void EndFileReads()
    {
        if (_endedReads.Count == 0) return;
        var ended = _endedReads;
        _endedReads = _spareEndedReads; // what the calls below may add waits for the next round
        _spareEndedReads = ended;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        try
        {
            bool gone = Volatile.Read(ref _state) == StateDisposed;
            var items = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ended);
            for (int i = 0; i < items.Length; i++)
            {
                ref var item = ref items[i];
                var entry = _entries[item.Slot];
                item.Read = entry.FileRead;
                entry.FileRead = null;
                if (item.Read is null) continue;
                _fileReadsInFlight--;
                if (gone) continue;
                int length = entry.FileReadLength;
                int n;
                try { n = item.Read.Filled(item.Result, PayloadSpan(entry, length)); }
                catch (Exception e)
                {
                    // A bug in the filesystem's fill: it sends nothing, is still told so below, and the queue ends after.
                    failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                    continue;
                }
                if (n < 0 || n > length) continue;
                WriteHeader(entry, Volatile.Read(ref entry.CommitId), Errno.Ok, n);
                _localCommits.Add(item.Slot);
                Interlocked.Increment(ref _ringFileReads);
                item.Sent = FuseConstants.OutHeaderSize + n;
            }
            if (!gone && _ring is not null) SubmitReplies(evenWithRequestsWaiting: true);
            // Each is told, whatever another's throws (a bug there ends the queue, after all were told, as work after the
            // mailboxes does).
            foreach (ref var item in items)
            {
                try { item.Read?.Ended(item.Sent >= 0, item.Sent >= 0 ? item.Sent : 0); }
                catch (Exception e) { failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
            }
            failure?.Throw();
        }
        finally
        {
            ended.Clear();
        }
    }

    /// <summary>
    /// The reader is ending (the queue is gone, or the connection stops it): no file read starts any more, and each not
    /// yet told is told how it ended. While the ring is still open, the reads in flight are waited for first (10 s at
    /// most) and end as usual. Any still in flight after that, or once the queue is gone (its ring closed), is told it
    /// sent nothing; its entry, which the kernel may still write into, is never handed out for a reply nor committed
    /// (<see cref="Entry.ReadOutstanding"/>), and its buffer outlives this object for a while (see Teardown).
    /// </summary>
    public void AbandonFileReads()
    {
        if (!OnOwnerThread) return;
        _fileReadsAbandoned = true;
        if (_fileReadsAwaitingCompletion > 0) TakeFileReadCompletions(waitForAll: true);
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        try { EndFileReads(); }
        catch (Exception e) { failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        foreach (var entry in _entries)
        {
            if (entry?.FileRead is not { } read) continue;
            entry.FileRead = null;
            _fileReadsInFlight--;
            try { read.Ended(false, 0); }
            catch (Exception e) { failure ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e); }
        }
        failure?.Throw();
    }

    /// <summary>The entry holding request <paramref name="unique"/>, or -1; never one whose file read may still write into
    /// its buffer (<see cref="Entry.ReadOutstanding"/>): nothing may reply through it, or commit it, until that ends.</summary>
    private int FindEntry(ulong unique)
    {
        for (int i = 0; i < _entries.Length; i++)
        {
            var e = _entries[i];
            if (e is not null && Volatile.Read(ref e.CommitId) == unique) return e.ReadOutstanding ? -1 : i;
        }
        return -1;
    }

    private static Span<byte> PayloadSpan(Entry entry, int length) => entry.Payload.AsSpan(entry.PayloadOffset, length);

    private static void WriteInto(Entry entry, ulong unique, Errno error, ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(entry.Payload.AsSpan(entry.PayloadOffset));
        WriteHeader(entry, unique, error, payload.Length);
    }

    /// <summary>The reply's header, for a payload already in the entry's buffer.</summary>
    private static void WriteHeader(Entry entry, ulong unique, Errno error, int payloadLength)
    {
        var h = entry.Header.AsSpan();
        BitConverter.TryWriteBytes(h, (uint)(FuseConstants.OutHeaderSize + payloadLength));
        BitConverter.TryWriteBytes(h[4..], -(int)error);
        BitConverter.TryWriteBytes(h[8..], unique);
        BitConverter.TryWriteBytes(h[(RingEntInOutOffset + 16)..], (uint)payloadLength);
    }

    private void QueueCommit(int index)
    {
        if (Environment.CurrentManagedThreadId == _ownerThread && Volatile.Read(ref _state) != StateDisposed)
        {
            _localCommits.Add(index);
            // With completions already waiting in the ring (more requests, mostly), the reply goes with the next wait,
            // in the same io_uring_enter as the other replies of this pass. Without, it is submitted now, not after the
            // rest of this mailbox run and the work queued after it (RunAfterMailboxes): its caller, usually on this
            // CPU, runs again sooner. And the longer this thread runs between the caller's sleep and its wake-up, the
            // more often the scheduler wakes the caller on the other, idle CPU (~40 us here, where the same CPU costs
            // ~5): one caller's stat over passthrough took 12.8-14.9 us before, 11.2-13.7 us now (9.8 us pinned,
            // passthrough_hp 9.7). A request the kernel queued that no io_uring_enter has taken in yet (COOP_TASKRUN)
            // does not show as a completion: then the reply costs an io_uring_enter of its own.
            if (_ring is not null) SubmitReplies(evenWithRequestsWaiting: false);
            return;
        }
        _remoteCommits.Enqueue(index);
        Wake();
    }

    /// <summary>Wakes the queue's thread from io_uring_enter through the eventfd (any thread; nothing once torn down).</summary>
    private void Wake()
    {
        var handle = Volatile.Read(ref _eventHandle);
        if (handle is null) return;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            ulong one = 1;
            Native.write((int)handle.DangerousGetHandle(), &one, 8);
        }
        catch (ObjectDisposedException) { } // torn down meanwhile: there is no thread left to wake
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private void DrainRemoteCommits()
    {
        if (_heldCommits.Count > 0)
        {
            var held = _heldCommits.ToArray(); // rare: a flush during a lease
            _heldCommits.Clear();
            foreach (var index in held) CommitEntry(index);
        }
        foreach (var index in _localCommits) CommitEntry(index);
        _localCommits.Clear();
        while (_remoteCommits.TryDequeue(out int index)) CommitEntry(index);
    }

    private void CommitEntry(int index)
    {
        var entry = _entries[index];
        ulong commitId = entry.CommitId;
        if (commitId == 0) return;
        if (!entry.Lent.ReadyToCommit())
        {
            // Its data is in use in place on this thread (a flush from inside the lease): the kernel must not refill it yet.
            _heldCommits.Add(index);
            return;
        }
        Volatile.Write(ref entry.CommitId, 0);
        Submit(entry, index, CmdCommitAndFetch, commitId);
    }

    // ------------------------------------------------------------------ setup and submission

    /// <summary>Makes and closes a ring as the queues make theirs: 0, or the errno io_uring_setup or its mmap failed with.</summary>
    internal static int ProbeRing()
    {
        int err = Ring.Create(2, out var ring);
        ring?.Dispose();
        return err;
    }

    private int Setup()
    {
        _ownerThread = Environment.CurrentManagedThreadId;
        t_queueThread = true;
        if (_pin && _qid < 1024)
        {
            var mask = stackalloc ulong[16];
            mask[_qid / 64] = 1UL << (_qid % 64);
            Native.sched_setaffinity(0, 16 * 8, mask); // an offline CPU fails: then the thread just stays unpinned
        }
        // Threads the runtime starts from here for managed code (a filesystem's lazily started workers, a thread-pool
        // thread) begin at SCHED_OTHER all the same; its native ones and io_uring's workers do not (IdlePolicyGuard).
        if (_idlePriority) AtIdlePriority = SetSchedulingPolicy(0, SchedIdle);
        if (Native.SysGettid > 0) Volatile.Write(ref _threadId, (int)Native.syscall(Native.SysGettid, 0, 0, 0, 0, 0, 0)); // last: whoever sees it sees the policy set
        int payloadSize = _transport.PayloadSize;
        for (int i = 0; i < _depth; i++)
        {
            var payload = GC.AllocateUninitializedArray<byte>(payloadSize + PageSize, pinned: true);
            byte* start = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(payload));
            int offset = (int)((PageSize - (nuint)start % PageSize) % PageSize);
            var e = new Entry
            {
                Header = GC.AllocateArray<byte>(HeaderBufferSize, pinned: true),
                Payload = payload,
                PayloadOffset = offset,
                Lent = new LentPayload(payload, offset, () => OnOwnerThread),
                IoVecs = GC.AllocateArray<byte>(32, pinned: true),
            };
            fixed (byte* iov = e.IoVecs)
            fixed (byte* hp = e.Header)
            {
                ((ulong*)iov)[0] = (ulong)hp;
                ((ulong*)iov)[1] = HeaderBufferSize;
                ((ulong*)iov)[2] = (ulong)(start + offset);
                ((ulong*)iov)[3] = (ulong)payloadSize;
            }
            _entries[i] = e;
        }
        _eventFd = Native.eventfd(0, Native.EFD_CLOEXEC);
        if (_eventFd < 0) return Marshal.GetLastPInvokeError();
        _eventHandle = new Microsoft.Win32.SafeHandles.SafeFileHandle(_eventFd, ownsHandle: true);
        _eventBuffer = GC.AllocateArray<byte>(8, pinned: true);
        int err = Ring.Create((uint)(_depth + 1), out _ring);
        if (err != 0) return err;
        // The ring takes its own reference to /dev/fuse (slot 0 of its file table) and every command names that slot,
        // never the descriptor's number: a command submitted while the device is being closed cannot reach another file
        // that was given the number (another mount's /dev/fuse, say), and no command takes and drops a file reference.
        err = _ring!.RegisterFile(_transport.Device.Fd);
        if (err != 0) return err;
        for (int i = 0; i < _depth; i++) Submit(_entries[i], i, CmdRegister);
        ArmEventFd();
        int r = _ring!.Enter(0);
        return r < 0 ? -r : 0;
    }

    private void ArmEventFd()
    {
        fixed (byte* b = _eventBuffer)
        {
            var sqe = _ring!.NextSqe();
            sqe[0] = Ring.OpRead;
            *(int*)(sqe + 4) = _eventFd;
            *(ulong*)(sqe + 16) = (ulong)b;
            *(uint*)(sqe + 24) = 8;
            *(ulong*)(sqe + 32) = EventFdTag;
            _ring.Push();
        }
    }

    private void Submit(Entry entry, int index, uint cmd, ulong commitId = 0)
    {
        entry.LastCmd = cmd;
        entry.LastCommitId = commitId;
        var sqe = _ring!.NextSqe();
        sqe[0] = Ring.OpUringCmd;
        sqe[1] = Ring.SqeFixedFile;
        *(int*)(sqe + 4) = 0;                         // the registered /dev/fuse (RegisterFile)
        *(uint*)(sqe + 8) = cmd;                      // cmd_op
        if (cmd == CmdRegister)
        {
            fixed (byte* iov = entry.IoVecs) *(ulong*)(sqe + 16) = (ulong)iov; // addr: the two iovecs
            *(uint*)(sqe + 24) = 2;                   // len: FUSE_URING_IOV_SEGS
        }
        *(ulong*)(sqe + 32) = (ulong)index;          // user_data
        *(ulong*)(sqe + 48 + 8) = commitId;           // cmd: fuse_uring_cmd_req.commit_id
        *(ushort*)(sqe + 48 + 16) = (ushort)_qid;     // cmd: fuse_uring_cmd_req.qid
        _ring.Push();
    }

    // ------------------------------------------------------------------ end

    public void Dispose()
    {
        int previous = Interlocked.Exchange(ref _state, StateDisposed);
        _transport.Decide(false, 0, 0, "closed before INIT was answered"); // a reader still waiting for INIT ends (no-op after INIT)
        if (previous == StateIdle) Teardown();
        else if (previous == StateInRead) Wake();
    }

    private int _tornDown;

    /// <summary>Closes the ring (the kernel cancels commands still pending) and the eventfd. The entry buffers stay
    /// with this object (a late Write may still copy into one), so nothing the kernel may touch is freed under it.</summary>
    private void Teardown()
    {
        if (Interlocked.Exchange(ref _tornDown, 1) != 0) return;
        // File reads still in flight: closing the ring does not stop the kernel writing them into the entries' buffers (its
        // exit work finishes or cancels them after close returns), so those buffers outlive this object by a while.
        if (Volatile.Read(ref _fileReadsAwaitingCompletion) > 0)
        {
            var entries = _entries;
            _ = Task.Delay(TimeSpan.FromSeconds(30)).ContinueWith(_ => GC.KeepAlive(entries), TaskScheduler.Default);
        }
        _ring?.Dispose();
        _eventFd = -1;
        // Closed once no Wake holds it any more.
        Interlocked.Exchange(ref _eventHandle, null)?.Dispose();
    }

    // ------------------------------------------------------------------ the ring

    /// <summary>A bare io_uring: io_uring_setup, the SQ/CQ rings and the SQE array mmapped, io_uring_enter.</summary>
    private sealed class Ring : IDisposable
    {
        public const byte OpRead = 22;            // IORING_OP_READ
        public const byte OpUringCmd = 46;        // IORING_OP_URING_CMD
        public const byte SqeFixedFile = 1;       // IOSQE_FIXED_FILE: the fd field is a slot of the registered files
        private const uint RegisterFiles = 2;     // IORING_REGISTER_FILES
        private const uint SetupSubmitAll = 1u << 7, SetupCoopTaskrun = 1u << 8, SetupSqe128 = 1u << 10;
        private const uint FeatSingleMmap = 1u << 0;
        private const uint EnterGetEvents = 1u << 0, EnterExtArg = 1u << 3;
        private const long OffSqRing = 0, OffCqRing = 0x8000000, OffSqes = 0x10000000;
        private const int SqeSize = 128;

        private int _fd;
        private byte* _sqRing, _cqRing, _sqes;
        private nuint _sqRingSize, _cqRingSize, _sqesSize;
        private uint* _sqTail, _sqHead, _cqHead, _cqTail;
        private uint _sqMask, _cqMask, _sqEntries;
        private byte* _cqes;
        private uint _localTail;
        public int Pending { get; private set; }

        public static int Create(uint entries, out Ring? ring)
        {
            ring = null;
            var p = stackalloc byte[120]; // struct io_uring_params
            new Span<byte>(p, 120).Clear();
            // COOP_TASKRUN: a request's task work (the copy into our buffers) does not interrupt the queue's thread with an
            // IPI while it runs; it still wakes it from io_uring_enter (TWA_SIGNAL_NO_IPI wakes an interruptible sleeper),
            // and a running thread always comes back to io_uring_enter to wait. libfuse 3.18 leaves it off (its comment:
            // it made things a bit slower there); here, 100 000 GETATTRs over memfs after as many to warm up, daemon CPU
            // per request and latency were the same with and without it, within this machine's noise (2026-12-07).
            *(uint*)(p + 8) = SetupSqe128 | SetupSubmitAll | SetupCoopTaskrun;
            uint size = 1;
            while (size < entries) size <<= 1;
            long fd = Native.syscall(Native.SysIoUringSetup, size, (long)p, 0, 0, 0, 0);
            if (fd < 0) return Marshal.GetLastPInvokeError();
            var r = new Ring { _fd = (int)fd };
            uint sqEntries = *(uint*)p, cqEntries = *(uint*)(p + 4), features = *(uint*)(p + 20);
            var sq = p + 40; var cq = p + 80; // io_sqring_offsets, io_cqring_offsets
            r._sqRingSize = *(uint*)(sq + 24) + sqEntries * 4;             // array + entries * u32
            r._cqRingSize = *(uint*)(cq + 20) + cqEntries * 16;            // cqes + entries * 16
            if ((features & FeatSingleMmap) != 0) r._sqRingSize = r._cqRingSize = Math.Max(r._sqRingSize, r._cqRingSize);
            r._sqRing = Map(r._fd, r._sqRingSize, OffSqRing);
            r._cqRing = (features & FeatSingleMmap) != 0 ? r._sqRing : Map(r._fd, r._cqRingSize, OffCqRing);
            r._sqesSize = sqEntries * SqeSize;
            r._sqes = Map(r._fd, r._sqesSize, OffSqes);
            if (r._sqRing == null || r._cqRing == null || r._sqes == null)
            {
                int err = Marshal.GetLastPInvokeError();
                r.Dispose();
                return err == 0 ? (int)Errno.ENOMEM : err;
            }
            r._sqHead = (uint*)(r._sqRing + *(uint*)(sq + 0));
            r._sqTail = (uint*)(r._sqRing + *(uint*)(sq + 4));
            r._sqMask = *(uint*)(r._sqRing + *(uint*)(sq + 8));
            r._sqEntries = sqEntries;
            var array = (uint*)(r._sqRing + *(uint*)(sq + 24));
            for (uint i = 0; i < sqEntries; i++) array[i] = i; // SQE i sits in slot i, always
            r._cqHead = (uint*)(r._cqRing + *(uint*)(cq + 0));
            r._cqTail = (uint*)(r._cqRing + *(uint*)(cq + 4));
            r._cqMask = *(uint*)(r._cqRing + *(uint*)(cq + 8));
            r._cqes = r._cqRing + *(uint*)(cq + 20);
            r._localTail = *r._sqTail;
            ring = r;
            return 0;
        }

        private static byte* Map(int fd, nuint size, long offset)
        {
            var p = Native.mmap(null, size, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_POPULATE, fd, offset);
            return p == (void*)-1 ? null : (byte*)p;
        }

        /// <summary>The next free SQE, zeroed. The SQ has room for every entry's command plus the eventfd read, each at most
        /// once in flight (an entry's file read takes the place of its command: that is not in the ring while its request
        /// is served).</summary>
        public byte* NextSqe()
        {
            if (_localTail - Volatile.Read(ref *_sqHead) >= _sqEntries) throw new InvalidOperationException("io_uring submission queue full");
            var sqe = _sqes + (_localTail & _sqMask) * SqeSize;
            new Span<byte>(sqe, SqeSize).Clear();
            return sqe;
        }

        /// <summary>Publishes the SQE filled after <see cref="NextSqe"/> (release: the kernel sees it whole).</summary>
        public void Push()
        {
            _localTail++;
            Volatile.Write(ref *_sqTail, _localTail);
            Pending++;
        }

        /// <summary>io_uring_enter: submits what is pending and waits for <paramref name="wait"/> completions.
        /// Returns the number submitted or a negated errno.</summary>
        /// <summary>As <see cref="Enter(uint)"/>, waiting at most <paramref name="timeoutMs"/> (IORING_ENTER_EXT_ARG with a
        /// timeout: -ETIME when it passed).</summary>
        public int Enter(uint wait, int timeoutMs)
        {
            if (wait == 0 || Volatile.Read(ref *_cqHead) != Volatile.Read(ref *_cqTail)) return Enter(0);
            var ts = stackalloc long[2];          // struct __kernel_timespec
            ts[0] = timeoutMs / 1000;
            ts[1] = timeoutMs % 1000 * 1_000_000L;
            var arg = stackalloc ulong[3];        // struct io_uring_getevents_arg: sigmask, sigmask_sz + min_wait_usec, ts
            arg[0] = 0;
            arg[1] = 0;
            arg[2] = (ulong)ts;
            long r = Native.syscall(Native.SysIoUringEnter, _fd, Pending, wait, EnterGetEvents | EnterExtArg, (long)arg, 24);
            if (r < 0) return -Marshal.GetLastPInvokeError();
            Pending -= (int)r;
            return (int)r;
        }

        public int Enter(uint wait)
        {
            if (wait > 0 && Volatile.Read(ref *_cqHead) != Volatile.Read(ref *_cqTail)) wait = 0;
            long r = Native.syscall(Native.SysIoUringEnter, _fd, Pending, wait, wait > 0 ? EnterGetEvents : 0, 0, 0);
            if (r < 0) return -Marshal.GetLastPInvokeError();
            Pending -= (int)r;
            return (int)r;
        }

        public bool HasCompletions => Volatile.Read(ref *_cqHead) != Volatile.Read(ref *_cqTail);

        /// <summary>Registers <paramref name="fd"/> as the ring's only fixed file (slot 0): 0, or the errno.</summary>
        public int RegisterFile(int fd)
        {
            int one = fd;
            long r = Native.syscall(Native.SysIoUringRegister, _fd, RegisterFiles, (long)&one, 1, 0, 0);
            return r < 0 ? Marshal.GetLastPInvokeError() : 0;
        }

        public bool TryPeekCompletion(out ulong userData, out int res)
        {
            uint head = *_cqHead; // only we write it
            if (head == Volatile.Read(ref *_cqTail)) { userData = 0; res = 0; return false; } // acquire: the CQE is complete
            var cqe = _cqes + (head & _cqMask) * 16;
            userData = *(ulong*)cqe;
            res = *(int*)(cqe + 8);
            return true;
        }

        public void AdvanceCompletion() => Volatile.Write(ref *_cqHead, *_cqHead + 1);

        public void Dispose()
        {
            if (_sqes != null) Native.munmap(_sqes, _sqesSize);
            if (_cqRing != null && _cqRing != _sqRing) Native.munmap(_cqRing, _cqRingSize);
            if (_sqRing != null) Native.munmap(_sqRing, _sqRingSize);
            _sqes = _cqRing = _sqRing = null;
            int fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0) Native.close(fd);
        }
    }

    private static class Native
    {
        public const long SysIoUringSetup = 425, SysIoUringEnter = 426, SysIoUringRegister = 427; // x86_64 and aarch64 alike (the unified numbers)
        public const int PROT_READ = 1, PROT_WRITE = 2, MAP_SHARED = 1, MAP_POPULATE = 0x8000, EFD_CLOEXEC = 0x80000;

        [DllImport("libc", SetLastError = true)]
        public static extern long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

        [DllImport("libc", SetLastError = true)]
        public static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

        [DllImport("libc", SetLastError = true)]
        public static extern int munmap(void* addr, nuint length);

        [DllImport("libc", SetLastError = true)]
        public static extern int eventfd(uint initval, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern nint write(int fd, void* buf, nuint count);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int sched_setaffinity(int pid, nuint size, ulong* mask);

        // Called as system calls, not through libc: musl's sched_setscheduler only answers ENOSYS, and gettid came to
        // glibc in 2.30. These two numbers differ between the architectures .NET runs on here.
        // Elsewhere (-1) the queue threads keep the normal policy and ThreadId stays 0.
        public static readonly long SysSchedSetscheduler = RuntimeInformation.ProcessArchitecture switch { Architecture.X64 => 144, Architecture.Arm64 => 119, _ => -1 };
        public static readonly long SysGettid = RuntimeInformation.ProcessArchitecture switch { Architecture.X64 => 186, Architecture.Arm64 => 178, _ => -1 };

        [DllImport("libc")]
        public static extern int getsid(int pid);
    }
}
