using System.Runtime.InteropServices;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// The kernel half of FUSE, in process. The daemon side reads and writes it exactly as it reads and writes
/// <c>/dev/fuse</c> (one <see cref="Read(Span{byte})"/> = one request, one <see cref="Write(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
/// = one whole reply or notification, negated errno on failure); kernel-side callers (see <see cref="VfsClient"/>)
/// send requests with <see cref="SendAsync"/>, <see cref="SendNoReply"/>, <see cref="SendBackground"/> and
/// <see cref="Forget"/>.
/// <para>
/// Inside is the request life cycle of Linux 2.6.15's <c>fs/fuse/dev.c</c> (the seed): unique ids, INIT gating,
/// credit (<c>FUSE_MAX_OUTSTANDING</c>) with debt for FORGET and RELEASE, the three ways to send, interruption
/// (unsent → dequeued with EINTR; sent → backgrounded with its node references held until the late reply),
/// read and write checks, abort and release; with today's kernel's values where they differ (fuse-protocol.md §9):
/// even ids, FUSE_INTERRUPT requests, BATCH_FORGET, notifications, error range (−512, 0], ENOENT for unknown ids.
/// </para>
/// Thread-safe: any number of readers, writers and callers may use it concurrently.
/// </summary>
public sealed partial class VirtualDevice : ICloneableFuseDevice
{
    private readonly object _lock = new();
    private readonly VirtualDeviceOptions _options;
    private readonly TimeProvider _time;
    private readonly DeviceQueue _primary;
    private readonly List<DeviceQueue> _queues = [];
    private int _cloneCounter;

    // ---- connection state (seed: fc->connected, fc->conn_error, INIT gating)
    private bool _connected = true;
    private bool _initialized;
    private bool _connError;
    private bool _readsGetConnAborted;
    private bool _noInterrupt;
    private FuseInitOut _initOut;
    private bool _hasInitOut;
    private uint _minor;
    private uint _maxWrite;
    private int _maxPages = 32;
    private InitFlags _flags;
    private ulong _reqctr;
    private readonly Req _initReq;
    private readonly TaskCompletionSource<bool> _initializedTcs = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // ---- credit (seed: outstanding_sem, outstanding_debt)
    private readonly int _maxOutstanding;
    private int _credit;
    private int _debt;
    private readonly LinkedList<Req> _creditWaiters = new();

    // ---- input queue: interrupts, then forgets, then pending requests
    private readonly LinkedList<Req> _pending = new();
    private readonly LinkedList<Req> _interrupts = new();
    private readonly LinkedList<ForgetEntry> _forgets = new();
    private int _forgetBatch;
    private readonly HashSet<Req> _background = [];
    private readonly HashSet<Req> _copying = [];
    private readonly List<TaskCompletionSource> _readableWaiters = [];

    /// <summary>Creates the device and queues INIT (unique 2), as mounting does.</summary>
    public VirtualDevice(VirtualDeviceOptions? options = null)
    {
        _options = options ?? new VirtualDeviceOptions();
        if (_options.MaxOutstanding < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxOutstanding must be at least 1");
        _maxOutstanding = _options.MaxOutstanding;
        _time = _options.TimeProvider;
        _primary = new DeviceQueue(_options.Name);
        _queues.Add(_primary);
        _nodes[FuseConstants.RootId] = new VirtualNode(FuseConstants.RootId);
        Cache = new VirtualCache(this);

        var offered = (ulong)_options.OfferedFlags;
        var initIn = new FuseInitIn
        {
            Major = FuseConstants.KernelVersion,
            Minor = _options.KernelMinor,
            MaxReadahead = _options.MaxReadahead,
            Flags = (uint)offered,
            Flags2 = (uint)(offered >> 32),
        };
        // INIT is preallocated and sent in the background; it holds the connection's only credit until its reply.
        _initReq = new Req(this, new VirtualRequest(Opcode.Init, 0, Wire.Bytes(initIn)), FuseCaller.Kernel, SendMode.Background)
        {
            HoldsCredit = true,
            IsBackground = true,
        };
        lock (_lock)
        {
            _background.Add(_initReq);
            QueueLocked(_initReq);
        }
    }

    public VirtualDeviceOptions Options => _options;

    public string Name => _options.Name;

    /// <summary>The in-process model of the kernel's caches (dentries, attributes, page cache).</summary>
    public VirtualCache Cache { get; }

    /// <summary>
    /// Test seam: called on the reader's thread while a request is being copied to it (after it left the pending
    /// list, before it is on the processing list). A cancellation that arrives now waits for the copy to finish:
    /// the request is then "sent", so it is backgrounded and an INTERRUPT is queued. Never called with a lock held.
    /// </summary>
    public Action<VirtualRequestInfo>? DuringCopy { get; set; }

    /// <summary>
    /// Test seam: called on the reader's thread when a queued request is next to be handed to a reader, while it is
    /// still pending (the daemon has not seen it). Called once per request and never with a lock held; after it
    /// returns the read starts over, so whatever the hook did (a signal dequeues the request, an abort ends it) is
    /// what the reader then sees. An exception from the hook leaves the request queued and ends the read.
    /// </summary>
    public Action<VirtualRequestInfo>? BeforeHandOut { get; set; }

    // ================================================================== state

    public VirtualDeviceState State
    {
        get
        {
            lock (_lock)
                return !_connected ? VirtualDeviceState.Disconnected
                    : _connError ? VirtualDeviceState.ConnectionError
                    : _initialized ? VirtualDeviceState.Initialized
                    : VirtualDeviceState.InitPending;
        }
    }

    /// <summary>Completes when the INIT reply has been processed: true if the connection is usable.</summary>
    public Task<bool> WhenInitialized => _initializedTcs.Task;

    /// <summary>The INIT reply, once a good one arrived.</summary>
    public FuseInitOut? InitReply { get { lock (_lock) return _hasInitOut ? _initOut : null; } }

    /// <summary>The minor version the daemon answered (0 before INIT).</summary>
    public uint Minor { get { lock (_lock) return _minor; } }

    /// <summary>max_write from the INIT reply (at least 4096), 0 before it.</summary>
    public uint MaxWrite { get { lock (_lock) return _maxWrite; } }

    /// <summary>max_pages in force (32 unless MAX_PAGES was negotiated).</summary>
    public int MaxPages { get { lock (_lock) return _maxPages; } }

    /// <summary>The capabilities both sides agreed on in INIT (offered ∩ replied).</summary>
    public InitFlags NegotiatedFlags { get { lock (_lock) return _flags; } }

    /// <summary>True after the daemon answered an INTERRUPT with ENOSYS: no INTERRUPT is sent again.</summary>
    public bool InterruptsDisabled { get { lock (_lock) return _noInterrupt; } }

    /// <summary>The smallest buffer a read accepts: max(8192, 40 + 40 + max_write). Smaller reads fail with EINVAL.</summary>
    public int MinReadBufferSize { get { lock (_lock) return MinReadBufferLocked; } }

    private int MinReadBufferLocked =>
        (int)Math.Max(FuseConstants.MinReadBuffer, FuseConstants.InHeaderSize + Wire.SizeOf<FuseWriteIn>() + (long)_maxWrite);

    public int MaxOutstanding => _maxOutstanding;
    public int Credit { get { lock (_lock) return _credit; } }
    public int Debt { get { lock (_lock) return _debt; } }
    public int PendingCount { get { lock (_lock) return _pending.Count; } }
    public int ProcessingCount { get { lock (_lock) return ProcessingCountLocked; } }
    public int BackgroundCount { get { lock (_lock) return _background.Count; } }
    public int WaitingForCredit { get { lock (_lock) return _creditWaiters.Count; } }

    private int ProcessingCountLocked
    {
        get
        {
            int n = 0;
            foreach (var q in _queues) n += q.Processing.Count;
            return n;
        }
    }

    public VirtualDeviceStats Stats()
    {
        lock (_lock)
        {
            int bgRefs = 0;
            foreach (var r in _background)
                if (r.RefsHeld) bgRefs += CountRefs(r);
            int nodeRefs = 0;
            foreach (var n in _nodes.Values) nodeRefs += n.Refs;
            return new VirtualDeviceStats(
                !_connected ? VirtualDeviceState.Disconnected : _connError ? VirtualDeviceState.ConnectionError
                    : _initialized ? VirtualDeviceState.Initialized : VirtualDeviceState.InitPending,
                _maxOutstanding, _credit, _debt, _creditWaiters.Count, _pending.Count, ProcessingCountLocked,
                _background.Count, bgRefs, nodeRefs, _interrupts.Count, _forgets.Count, _copying.Count);
        }
    }

    private static int CountRefs(Req r)
    {
        int n = 0;
        foreach (var id in r.Spec.NodeRefs) if (id != 0) n++;
        return n;
    }

    // ================================================================== kernel side: sending

    /// <summary>
    /// The seed's <c>request_send</c>: queues the request (waiting for credit first if none is left) and completes
    /// with the daemon's answer. Cancelling <paramref name="cancellationToken"/> is a signal: a request still queued is
    /// dequeued and the caller gets EINTR; a request the daemon has read is backgrounded (its node references held until
    /// the late reply), the caller gets EINTR at once, and a FUSE_INTERRUPT is queued for the daemon.
    /// Errors come back as <see cref="VirtualReply.Error"/>: ENOTCONN after abort, ECONNREFUSED after a bad INIT reply,
    /// ECONNABORTED when the connection dies under the request, EIO for an invalid reply.
    /// </summary>
    public Task<VirtualReply> SendAsync(VirtualRequest request, FuseCaller caller, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Reply.ExpectsReply)
            throw new ArgumentException($"{request.Opcode} gets no reply; use SendNoReply or Forget", nameof(request));
        if (cancellationToken.IsCancellationRequested)
            return Task.FromResult(new VirtualReply(0, request.Opcode, Errno.EINTR));

        var r = new Req(this, request, caller, SendMode.WaitForReply);
        // The signal handler is in place before the request is queued: a signal that came after queueing but before
        // registration would otherwise be lost when the daemon answers in between. One that fires during registration
        // (state New) is seen by the check under the lock.
        if (cancellationToken.CanBeCanceled)
            r.Registration = cancellationToken.UnsafeRegister(static s => { var q = (Req)s!; q.Device.OnSignal(q); }, r);
        lock (_lock)
        {
            var refused = !_connected ? Errno.ENOTCONN
                : _connError ? Errno.ECONNREFUSED
                : cancellationToken.IsCancellationRequested ? Errno.EINTR
                : Errno.Ok;
            if (refused != Errno.Ok)
            {
                r.State = ReqState.Finished;
                r.Registration.Unregister(); // not Dispose: that would wait for a running handler, which needs the lock
                return Task.FromResult(new VirtualReply(0, request.Opcode, refused));
            }
            AcquireRefsLocked(r);
            if (_creditWaiters.Count == 0 && _credit > 0)
            {
                _credit--;
                r.HoldsCredit = true;
                QueueLocked(r);
            }
            else
            {
                r.State = ReqState.WaitingCredit;
                r.ListNode = _creditWaiters.AddLast(r);
            }
            SignalLocked();
        }
        return r.Tcs.Task;
    }

    /// <summary>
    /// The seed's <c>request_send_noreply</c>: queues a request the daemon never answers. It never waits for credit:
    /// it takes one if available, else runs on debt, repaid when the daemon has read it. Returns false when disconnected.
    /// For FORGET prefer <see cref="Forget"/>, which batches.
    /// </summary>
    public bool SendNoReply(VirtualRequest request, FuseCaller caller)
    {
        ArgumentNullException.ThrowIfNull(request);
        lock (_lock)
        {
            if (!_connected) return false;
            var r = new Req(this, request, caller, SendMode.NoReply);
            AcquireRefsLocked(r);
            TakeCreditOrDebtLocked(r);
            QueueLocked(r);
            SignalLocked();
            return true;
        }
    }

    /// <summary>
    /// The seed's <c>request_send_background</c> (RELEASE): never blocks on credit (runs on debt when none is left),
    /// holds its node references until the reply, and cannot be interrupted. The task completes with the reply
    /// (callers usually ignore it). With <paramref name="forgetAfter"/> ≠ 0, one lookup of that node is forgotten
    /// when the request ends (the seed's RELEASE for a failed CREATE).
    /// </summary>
    public Task<VirtualReply> SendBackground(VirtualRequest request, FuseCaller caller, ulong forgetAfter = 0)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.Reply.ExpectsReply)
            throw new ArgumentException($"{request.Opcode} gets no reply; use SendNoReply", nameof(request));
        var r = new Req(this, request, caller, SendMode.Background) { ForgetAfter = forgetAfter };
        lock (_lock)
        {
            if (!_connected) return Task.FromResult(new VirtualReply(0, request.Opcode, Errno.ENOTCONN));
            SendBackgroundLocked(r);
            SignalLocked();
        }
        return r.Tcs.Task;
    }

    private void SendBackgroundLocked(Req r)
    {
        AcquireRefsLocked(r);
        r.IsBackground = true;
        _background.Add(r);
        TakeCreditOrDebtLocked(r);
        QueueLocked(r);
    }

    /// <summary>
    /// Gives back <paramref name="nlookup"/> lookups of a node (the kernel evicting an inode). The FORGET goes on the
    /// forget queue (several queued forgets are read as one BATCH_FORGET); it waits while requests in flight still
    /// reference the node. Throws if the node does not hold that many lookups. Ignored after disconnect.
    /// </summary>
    public void Forget(ulong nodeId, ulong nlookup = 1)
    {
        if (nlookup == 0) return;
        lock (_lock)
        {
            if (!_connected) return;
            if (nodeId == FuseConstants.RootId)
                throw new ArgumentException("the root node is never forgotten", nameof(nodeId));
            if (!_nodes.TryGetValue(nodeId, out var n) || n.NLookup < nlookup)
                throw new InvalidOperationException(
                    $"forget of {nlookup} lookup(s) of node {nodeId}, which holds {(n?.NLookup ?? 0)}");
            ForgetLocked(n, nlookup);
            SignalLocked();
        }
    }

    /// <summary>Aborts the connection (fusectl <c>abort</c>): every queued and in-flight request ends with ECONNABORTED,
    /// background references are released, later callers get ENOTCONN, readers ENODEV (ECONNABORTED if ABORT_ERROR was
    /// negotiated), writes ENOENT, poll POLLERR.</summary>
    public void Abort()
    {
        lock (_lock) AbortLocked(viaAbort: true);
    }

    // ================================================================== daemon side: IFuseDevice

    /// <summary>Reads exactly one request. Blocks until one is queued unless the device is non-blocking.</summary>
    public int Read(Span<byte> buffer) => ReadCore(_primary, buffer, _options.NonBlocking, default);

    /// <summary>Reads one request; <paramref name="nonBlocking"/> gives -EAGAIN instead of blocking.</summary>
    public int Read(Span<byte> buffer, bool nonBlocking) => ReadCore(_primary, buffer, nonBlocking, default);

    /// <summary>Blocking read; cancellation of a blocked read returns -EINTR.</summary>
    public int Read(Span<byte> buffer, CancellationToken cancellationToken) =>
        ReadCore(_primary, buffer, false, cancellationToken);

    /// <summary>Asynchronous read: waits without a thread; cancellation returns -EINTR.</summary>
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReadAsyncCore(_primary, buffer, cancellationToken);

    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => WriteCore(_primary, head, payload);

    /// <summary>Writes one whole message.</summary>
    public int Write(ReadOnlySpan<byte> message) => WriteCore(_primary, message, default);

    /// <summary>poll(2) on the device: POLLOUT|POLLWRNORM always, POLLIN|POLLRDNORM when a request, forget or interrupt
    /// is readable, only POLLERR once disconnected.</summary>
    public PollEvents Poll() => PollCore(_primary);

    /// <summary>True when a read would not block.</summary>
    public bool Readable => (Poll() & PollEvents.In) != 0;

    /// <summary>Completes when something is readable or the connection is gone.</summary>
    public Task WaitReadableAsync(CancellationToken cancellationToken = default) => WaitReadableCore(_primary, cancellationToken);

    /// <summary>Opens another queue on the connection (FUSE_DEV_IOC_CLONE): one shared input queue, its own processing
    /// table (a reply must be written to the queue the request was read from). Closing the last queue aborts.</summary>
    public IFuseDevice Clone()
    {
        lock (_lock)
        {
            if (!_connected || _primary.Closed)
                throw new FuseDeviceException(Errno.ENODEV, "cannot clone a disconnected virtual device");
            var q = new DeviceQueue($"{_options.Name} clone {++_cloneCounter}");
            _queues.Add(q);
            return new VirtualDeviceClone(this, q);
        }
    }

    /// <summary>Closes the device (the last close of /dev/fuse): its in-flight requests end with ECONNABORTED and,
    /// if no clone is open, the connection is aborted.</summary>
    public void Dispose() => CloseQueue(_primary);

    // ================================================================== read

    internal PollEvents PollCore(DeviceQueue q)
    {
        lock (_lock)
        {
            if (!_connected || q.Closed) return PollEvents.Err;
            var m = PollEvents.Out | PollEvents.WrNorm;
            if (HasReadableLocked) m |= PollEvents.In | PollEvents.RdNorm;
            return m;
        }
    }

    internal Task WaitReadableCore(DeviceQueue q, CancellationToken ct)
    {
        TaskCompletionSource tcs;
        lock (_lock)
        {
            if (!_connected || q.Closed || HasReadableLocked) return Task.CompletedTask;
            tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _readableWaiters.Add(tcs);
        }
        return ct.CanBeCanceled ? tcs.Task.WaitAsync(ct) : tcs.Task;
    }

    internal async ValueTask<int> ReadAsyncCore(DeviceQueue q, Memory<byte> buffer, CancellationToken ct)
    {
        while (true)
        {
            int n = ReadCore(q, buffer.Span, nonBlocking: true, default);
            if (n != -(int)Errno.EAGAIN) return n;
            try
            {
                await WaitReadableCore(q, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return -(int)Errno.EINTR;
            }
        }
    }

    private bool HasReadableLocked =>
        !_initialized
            ? _pending.First?.Value == _initReq
            : _interrupts.Count > 0 || _forgets.Count > 0 || _pending.Count > 0;

    private int DisconnectedReadError => -(int)(_readsGetConnAborted ? Errno.ECONNABORTED : Errno.ENODEV);

    internal int ReadCore(DeviceQueue q, Span<byte> buffer, bool nonBlocking, CancellationToken ct)
    {
        CancellationTokenRegistration reg = default;
        try
        {
            while (true)
            {
                Req req;
                Action<VirtualRequestInfo>? announce = null;
                lock (_lock)
                {
                    if (buffer.Length < MinReadBufferLocked) return -(int)Errno.EINVAL;
                    while (true)
                    {
                        if (!_connected || q.Closed) return DisconnectedReadError;
                        if (HasReadableLocked) break;
                        if (nonBlocking) return -(int)Errno.EAGAIN;
                        if (ct.IsCancellationRequested) return -(int)Errno.EINTR;
                        if (ct.CanBeCanceled && reg == default)
                        {
                            reg = ct.UnsafeRegister(static s =>
                            {
                                var d = (VirtualDevice)s!;
                                lock (d._lock) Monitor.PulseAll(d._lock);
                            }, this);
                            continue; // re-check: the token may have fired during registration
                        }
                        Monitor.Wait(_lock);
                    }

                    if (_initialized && _interrupts.First is { } first)
                    {
                        _interrupts.RemoveFirst();
                        first.Value.InterruptNode = null;
                        return WriteInterruptMessage(buffer, first.Value);
                    }

                    int forgetBatchBefore = _forgetBatch;
                    if (_initialized && _forgets.Count > 0)
                    {
                        if (_pending.Count == 0 || _forgetBatch-- > 0)
                            return ReadForgetsLocked(buffer);
                        if (_forgetBatch <= -8) _forgetBatch = 16;
                    }

                    req = _pending.First!.Value;
                    if (BeforeHandOut is { } hook && !req.HandOutAnnounced)
                    {
                        // Announced first, taken on a later pass (if it is still there then). This pass read
                        // nothing, so it must not count in the 16:8 interleaving of forgets and requests.
                        req.HandOutAnnounced = true;
                        announce = hook;
                        _forgetBatch = forgetBatchBefore;
                    }
                    else
                    {
                        _pending.RemoveFirst();
                        req.ListNode = null;

                        if (req.Message!.Length > buffer.Length)
                        {
                            // Too large for the reader's buffer: fail it toward its caller, and read on.
                            EndLocked(req, req.Spec.Opcode == Opcode.SetXAttr ? Errno.E2BIG : Errno.EIO, default);
                            SignalLocked();
                            continue;
                        }

                        if (req.Kind == SendMode.NoReply)
                        {
                            req.Message.CopyTo(buffer);
                            EndLocked(req, Errno.Ok, default);
                            SignalLocked();
                            return req.Message.Length;
                        }

                        req.State = ReqState.Copying;
                        req.Queue = q;
                        _copying.Add(req);
                    }
                }

                if (announce != null)
                {
                    announce(Info(req));
                    continue;
                }

                // The copy: the request is "locked" (seed lock_request): a signal now waits until it is done.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo? hookFailure = null;
                try
                {
                    DuringCopy?.Invoke(Info(req));
                }
                catch (Exception e)
                {
                    hookFailure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                }
                req.Message!.CopyTo(buffer);
                if (hookFailure != null)
                {
                    // A failing test hook must not leave the request locked: fail it toward its caller, then rethrow.
                    lock (_lock)
                    {
                        _copying.Remove(req);
                        req.Queue = null;
                        EndLocked(req, Errno.EIO, default);
                        SignalLocked();
                    }
                    hookFailure.Throw();
                }

                lock (_lock)
                {
                    _copying.Remove(req);
                    if (!_connected || q.Closed)
                    {
                        req.Queue = null;
                        EndLocked(req, Errno.ECONNABORTED, default);
                        SignalLocked();
                        return DisconnectedReadError;
                    }
                    req.State = ReqState.Processing;
                    q.Processing[req.Unique] = req;
                    if (req.InterruptWhileCopying) InterruptSentLocked(req);
                    SignalLocked();
                    return req.Message!.Length;
                }
            }
        }
        finally
        {
            reg.Dispose();
        }
    }

    private static VirtualRequestInfo Info(Req r) =>
        new(r.Unique, r.Spec.Opcode, r.Spec.NodeId, r.Caller, r.Message!.Length);

    private static int WriteInterruptMessage(Span<byte> buffer, Req target)
    {
        const int len = 48;
        var h = new FuseInHeader
        {
            Len = len,
            Opcode = (uint)Opcode.Interrupt,
            Unique = target.Unique | FuseConstants.InterruptBit,
        };
        MemoryMarshal.Write(buffer, in h);
        var body = new FuseInterruptIn { Unique = target.Unique };
        MemoryMarshal.Write(buffer[FuseConstants.InHeaderSize..], in body);
        return len;
    }

    private int ReadForgetsLocked(Span<byte> buffer)
    {
        int hdr = FuseConstants.InHeaderSize;
        if (_forgets.Count == 1)
        {
            var e = _forgets.First!.Value;
            _forgets.RemoveFirst();
            int len = hdr + Wire.SizeOf<FuseForgetIn>();
            var h = new FuseInHeader { Len = (uint)len, Opcode = (uint)Opcode.Forget, Unique = NextUniqueLocked(), NodeId = e.NodeId };
            MemoryMarshal.Write(buffer, in h);
            var body = new FuseForgetIn { NLookup = e.NLookup };
            MemoryMarshal.Write(buffer[hdr..], in body);
            PutBackLocked();
            SignalLocked();
            return len;
        }

        int fixedLen = hdr + Wire.SizeOf<FuseBatchForgetIn>();
        int one = Wire.SizeOf<FuseForgetOne>();
        int max = (buffer.Length - fixedLen) / one;
        int count = Math.Min(_forgets.Count, max);
        int total = fixedLen + count * one;
        var bh = new FuseInHeader { Len = (uint)total, Opcode = (uint)Opcode.BatchForget, Unique = NextUniqueLocked() };
        MemoryMarshal.Write(buffer, in bh);
        var arg = new FuseBatchForgetIn { Count = (uint)count };
        MemoryMarshal.Write(buffer[hdr..], in arg);
        int off = fixedLen;
        for (int i = 0; i < count; i++)
        {
            var e = _forgets.First!.Value;
            _forgets.RemoveFirst();
            var fo = new FuseForgetOne { NodeId = e.NodeId, NLookup = e.NLookup };
            MemoryMarshal.Write(buffer[off..], in fo);
            off += one;
            PutBackLocked();
        }
        SignalLocked();
        return total;
    }

    // ================================================================== write

    internal int WriteCore(DeviceQueue q, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        long total = (long)head.Length + payload.Length;
        if (total < FuseConstants.OutHeaderSize || total > int.MaxValue) return -(int)Errno.EINVAL;
        var msg = new byte[total];
        head.CopyTo(msg);
        payload.CopyTo(msg.AsSpan(head.Length));
        var oh = MemoryMarshal.Read<FuseOutHeader>(msg);
        if (oh.Len != total) return -(int)Errno.EINVAL;
        var body = msg.AsMemory(FuseConstants.OutHeaderSize);

        lock (_lock)
        {
            if (!_connected || q.Closed) return -(int)Errno.ENOENT;

            if (oh.Unique == 0)
            {
                int nr = NotifyLocked(oh.Error, body.Span);
                SignalLocked();
                return nr < 0 ? nr : (int)total;
            }

            if (oh.Error > 0 || oh.Error <= -512) return -(int)Errno.EINVAL;

            ulong id = oh.Unique & ~FuseConstants.InterruptBit;
            if (!q.Processing.TryGetValue(id, out var req)) return -(int)Errno.ENOENT;

            if ((oh.Unique & FuseConstants.InterruptBit) != 0)
            {
                // A reply to an INTERRUPT: header only. EAGAIN: queue it again; ENOSYS: never interrupt again.
                if (total != FuseConstants.OutHeaderSize) return -(int)Errno.EINVAL;
                if (Operations.SwitchesOff(Opcode.Interrupt, (Errno)(-oh.Error))) _noInterrupt = true;
                else if (oh.Error == -(int)Errno.EAGAIN) QueueInterruptLocked(req);
                SignalLocked();
                return (int)total;
            }

            q.Processing.Remove(id);
            req.Queue = null;
            // A late reply to a request whose caller left on a signal is accepted and processed like any other (what
            // it handed out is given back: FORGET, RELEASE), as today's kernel accepts it. The seed answered ENOENT
            // here, but ENOENT tells a daemon "not taken, undo it" (libfuse forgets the node), which would leave the
            // daemon's lookup counts and the kernel side's disagreeing.
            int err = 0;
            if (oh.Error != 0)
            {
                if (total != FuseConstants.OutHeaderSize) { err = -(int)Errno.EINVAL; EndLocked(req, Errno.EIO, default); }
                else EndLocked(req, (Errno)(-oh.Error), default);
            }
            else if (!req.Spec.Reply.Accepts(body.Length))
            {
                err = -(int)Errno.EINVAL;
                EndLocked(req, Errno.EIO, default);
            }
            else
            {
                EndLocked(req, Errno.Ok, body);
            }
            SignalLocked();
            return err != 0 ? err : (int)total;
        }
    }

    // ================================================================== close / abort

    internal void CloseQueue(DeviceQueue q)
    {
        lock (_lock)
        {
            if (q.Closed) return;
            q.Closed = true;
            EndProcessingLocked(q);
            bool anyOpen = false;
            foreach (var other in _queues) anyOpen |= !other.Closed;
            if (!anyOpen) AbortLocked(viaAbort: false);
            WakeReadableWaitersLocked(); // waiters on the closed queue return ENODEV; the others re-check
            SignalLocked();
        }
    }

    private void EndProcessingLocked(DeviceQueue q)
    {
        if (q.Processing.Count == 0) return;
        foreach (var r in q.Processing.Values.OrderBy(r => r.Unique).ToList())
        {
            q.Processing.Remove(r.Unique);
            r.Queue = null;
            EndLocked(r, Errno.ECONNABORTED, default);
        }
    }

    private void AbortLocked(bool viaAbort)
    {
        if (!_connected) return;
        _connected = false;
        _readsGetConnAborted = viaAbort && (_flags & InitFlags.AbortError) != 0;

        DrainCreditWaitersLocked(); // fails them all with ENOTCONN
        while (_pending.First is { } p) EndLocked(p.Value, Errno.ECONNABORTED, default);
        foreach (var q in _queues) EndProcessingLocked(q);
        // Requests being copied are ended by their reader when the copy is done.
        while (_interrupts.First is { } i)
        {
            _interrupts.RemoveFirst();
            i.Value.InterruptNode = null;
        }
        while (_forgets.Count > 0)
        {
            _forgets.RemoveFirst();
            PutBackLocked();
        }
        foreach (var n in _nodes.Values) n.DeferredForget = 0; // no FORGETs at unmount
        _initializedTcs.TrySetResult(false);
        SignalLocked();
    }

    // ================================================================== request life cycle

    private ulong NextUniqueLocked()
    {
        do _reqctr += 2; while (_reqctr == 0);
        return _reqctr;
    }

    private void QueueLocked(Req r, ulong unique = 0)
    {
        r.Unique = unique != 0 ? unique : NextUniqueLocked();
        r.Message = BuildMessage(r);
        r.State = ReqState.Pending;
        r.ListNode = _pending.AddLast(r);
    }

    private static byte[] BuildMessage(Req r)
    {
        var body = r.Spec.Body.Span;
        var msg = new byte[FuseConstants.InHeaderSize + body.Length];
        var h = new FuseInHeader
        {
            Len = (uint)msg.Length,
            Opcode = (uint)r.Spec.Opcode,
            Unique = r.Unique,
            NodeId = r.Spec.NodeId,
            Uid = r.Caller.Uid,
            Gid = r.Caller.Gid,
            Pid = r.Caller.Pid,
        };
        MemoryMarshal.Write(msg, in h);
        body.CopyTo(msg.AsSpan(FuseConstants.InHeaderSize));
        return msg;
    }

    /// <summary>A signal for a waiting caller (its token was cancelled).</summary>
    private void OnSignal(Req r)
    {
        lock (_lock)
        {
            switch (r.State)
            {
                case ReqState.WaitingCredit:
                    _creditWaiters.Remove(r.ListNode!);
                    r.ListNode = null;
                    r.State = ReqState.Finished;
                    ReleaseRefsLocked(r);
                    r.Tcs.TrySetResult(new VirtualReply(0, r.Spec.Opcode, Errno.EINTR));
                    break;
                case ReqState.Pending:
                    // Not sent yet: dequeue it; the daemon never sees it.
                    EndLocked(r, Errno.EINTR, default);
                    break;
                case ReqState.Copying:
                    // Being copied: decided once the copy is done (it will have been sent).
                    r.InterruptWhileCopying = true;
                    break;
                case ReqState.Processing:
                    InterruptSentLocked(r);
                    break;
            }
            SignalLocked();
        }
    }

    /// <summary>The seed's background_request for an interrupted, already sent request, plus today's INTERRUPT.</summary>
    private void InterruptSentLocked(Req r)
    {
        if (r.Interrupted || r.State != ReqState.Processing) return;
        r.Interrupted = true;
        r.IsBackground = true;
        _background.Add(r);
        r.Tcs.TrySetResult(new VirtualReply(r.Unique, r.Spec.Opcode, Errno.EINTR));
        if (!_noInterrupt) QueueInterruptLocked(r);
    }

    private void QueueInterruptLocked(Req r)
    {
        if (r.InterruptNode != null || r.State != ReqState.Processing) return;
        r.InterruptNode = _interrupts.AddLast(r);
    }

    /// <summary>The seed's request_end: finish a request with an error or a reply payload.</summary>
    private void EndLocked(Req r, Errno error, ReadOnlyMemory<byte> payload)
    {
        if (r.State == ReqState.Finished) return;
        r.State = ReqState.Finished;
        if (r.ListNode != null)
        {
            r.ListNode.List!.Remove(r.ListNode);
            r.ListNode = null;
        }
        if (r.InterruptNode != null)
        {
            _interrupts.Remove(r.InterruptNode);
            r.InterruptNode = null;
        }
        _copying.Remove(r);
        if (r.Queue != null)
        {
            if (r.Queue.Processing.TryGetValue(r.Unique, out var same) && same == r) r.Queue.Processing.Remove(r.Unique);
            r.Queue = null;
        }

        var reply = new VirtualReply(r.Unique, r.Spec.Opcode, error, error == Errno.Ok ? payload : default);
        if (_connected)
            reply = error == Errno.Ok ? ProcessReplyLocked(r, reply) : ProcessErrorLocked(r, reply);

        if (r.IsBackground) _background.Remove(r);
        ReleaseRefsLocked(r);
        r.Registration.Unregister();
        r.Tcs.TrySetResult(reply);

        if (r == _initReq) ProcessInitReplyLocked(reply);
        if (r.ForgetAfter != 0 && _connected && _nodes.TryGetValue(r.ForgetAfter, out var fn) && fn.NLookup > 0)
            ForgetLocked(fn, 1);
        if (r.HoldsCredit)
        {
            r.HoldsCredit = false;
            PutBackLocked();
        }
    }

    private void ProcessInitReplyLocked(VirtualReply reply)
    {
        _initialized = true;
        if (_connected)
        {
            if (!reply.IsOk)
            {
                _connError = true;
            }
            else
            {
                var o = Wire.Read<FuseInitOut>(reply.Payload.Span);
                if (o.Major != FuseConstants.KernelVersion)
                {
                    _connError = true;
                }
                else
                {
                    _initOut = o;
                    _hasInitOut = true;
                    _minor = o.Minor;
                    _maxWrite = o.Minor < 5 ? 4096u : Math.Max(4096u, o.MaxWrite);
                    ulong f = o.Flags;
                    if ((f & (ulong)InitFlags.InitExt) != 0) f |= (ulong)o.Flags2 << 32;
                    _flags = (InitFlags)f & _options.OfferedFlags;
                    _maxPages = (_flags & InitFlags.MaxPages) != 0
                        ? Math.Clamp((int)o.MaxPages, 1, Math.Max(1, _options.MaxPagesLimit))
                        : 32;
                }
            }
        }
        // The seed releases the remaining FUSE_MAX_OUTSTANDING - 1 credits here; INIT's own one comes back when it is put.
        _credit += _maxOutstanding - 1;
        _initializedTcs.TrySetResult(_connected && !_connError);
    }

    // ---- credit

    private void TakeCreditOrDebtLocked(Req r)
    {
        // Seed queue_request for a request that is not preallocated: down_trylock, or go into debt.
        if (_credit > 0) _credit--;
        else _debt++;
        r.HoldsCredit = true;
    }

    /// <summary>The seed's fuse_putback_request: repay debt first, else give the credit back (and to a waiter).</summary>
    private void PutBackLocked()
    {
        if (_debt > 0) _debt--;
        else _credit++;
        DrainCreditWaitersLocked();
    }

    private void DrainCreditWaitersLocked()
    {
        while (_creditWaiters.First is { } node)
        {
            var w = node.Value;
            if (!_connected || _connError)
            {
                _creditWaiters.RemoveFirst();
                w.ListNode = null;
                w.State = ReqState.Finished;
                ReleaseRefsLocked(w);
                w.Registration.Unregister();
                w.Tcs.TrySetResult(new VirtualReply(0, w.Spec.Opcode, !_connected ? Errno.ENOTCONN : Errno.ECONNREFUSED));
                continue;
            }
            if (_credit <= 0) break;
            _creditWaiters.RemoveFirst();
            w.ListNode = null;
            _credit--;
            w.HoldsCredit = true;
            QueueLocked(w);
        }
    }

    private void EnqueueForgetLocked(ulong nodeId, ulong nlookup)
    {
        // A forget is a seed request that is not preallocated: it takes a credit if one is free, else debt.
        if (_credit > 0) _credit--;
        else _debt++;
        _forgets.AddLast(new ForgetEntry(nodeId, nlookup));
    }

    private void SignalLocked()
    {
        Monitor.PulseAll(_lock);
        if (_readableWaiters.Count > 0 && (!_connected || HasReadableLocked)) WakeReadableWaitersLocked();
    }

    private void WakeReadableWaitersLocked()
    {
        foreach (var w in _readableWaiters) w.TrySetResult();
        _readableWaiters.Clear();
    }

    // ================================================================== inner types

    internal enum ReqState { New, WaitingCredit, Pending, Copying, Processing, Finished }

    internal sealed class Req(VirtualDevice device, VirtualRequest spec, FuseCaller caller, SendMode kind)
    {
        public readonly VirtualDevice Device = device;
        public readonly VirtualRequest Spec = spec;
        public readonly FuseCaller Caller = caller;
        public readonly SendMode Kind = kind;
        public readonly TaskCompletionSource<VirtualReply> Tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ulong Unique;
        public byte[]? Message;
        public ReqState State;
        public bool HoldsCredit;
        public bool Interrupted;
        public bool InterruptWhileCopying;
        public bool HandOutAnnounced;
        public bool IsBackground;
        public bool RefsHeld;
        public ulong ForgetAfter;
        public LinkedListNode<Req>? ListNode;
        public LinkedListNode<Req>? InterruptNode;
        public DeviceQueue? Queue;
        public CancellationTokenRegistration Registration;
        public override string ToString() => $"{Spec.Opcode} #{Unique} {State}";
    }

    internal sealed class DeviceQueue(string name)
    {
        public readonly string Name = name;
        public readonly Dictionary<ulong, Req> Processing = [];
        public bool Closed;
    }

    private readonly record struct ForgetEntry(ulong NodeId, ulong NLookup);
}

/// <summary>A further queue of a <see cref="VirtualDevice"/> (see <see cref="VirtualDevice.Clone"/>).</summary>
public sealed class VirtualDeviceClone : IFuseDevice
{
    private readonly VirtualDevice _device;
    private readonly VirtualDevice.DeviceQueue _queue;

    internal VirtualDeviceClone(VirtualDevice device, VirtualDevice.DeviceQueue queue)
    {
        _device = device;
        _queue = queue;
    }

    public VirtualDevice Device => _device;
    public string Name => _queue.Name;
    public int Read(Span<byte> buffer) => _device.ReadCore(_queue, buffer, _device.Options.NonBlocking, default);
    public int Read(Span<byte> buffer, bool nonBlocking) => _device.ReadCore(_queue, buffer, nonBlocking, default);
    public int Read(Span<byte> buffer, CancellationToken cancellationToken) => _device.ReadCore(_queue, buffer, false, cancellationToken);
    public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _device.ReadAsyncCore(_queue, buffer, cancellationToken);
    public int Write(ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => _device.WriteCore(_queue, head, payload);
    public int Write(ReadOnlySpan<byte> message) => _device.WriteCore(_queue, message, default);
    public PollEvents Poll() => _device.PollCore(_queue);
    public Task WaitReadableAsync(CancellationToken cancellationToken = default) => _device.WaitReadableCore(_queue, cancellationToken);
    public void Dispose() => _device.CloseQueue(_queue);
}
