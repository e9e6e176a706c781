using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Diagnostics;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// The daemon side of one FUSE connection: the seed's fuse_conn, seen from user space. Three named states:
/// <see cref="AwaitingInit"/> (nothing but INIT is served; the filesystem is asked what it handles before INIT is
/// answered), <see cref="Serving"/>, and <see cref="Draining"/> (unmounting, protocol refused or the filesystem
/// gone: new requests get ENOTCONN, answers still in progress are written).
///
/// It is the one owner of every request's life. A request read from the device is <em>in flight</em> (the kernel
/// waits, the filesystem works) until the filesystem answers it, or until the engine answers for it: EINTR once the
/// interrupt grace after a FUSE_INTERRUPT is over, EIO after the request timeout, both found by one periodic sweep
/// (no timer or actor per request). A request the engine answered stays in the <em>background</em> until the
/// filesystem lets go of it (its late reply), and keeps its nodes pinned: FORGETs for them wait until then, as the
/// seed held an inode reference for a backgrounded request. <see cref="AnswerKernel"/> is the one place a request
/// gives its credit back (a SETLKW gives it back when it arrives: it may wait forever), <see cref="Retire"/> the one place it unpins its nodes, forwards waiting FORGETs and frees
/// its buffers. On unmount or device loss every request in flight is answered or dropped: nothing hangs.
/// </summary>
public sealed class FuseConnection : UntypedActor, IWithUnboundedStash
{
    private readonly ConnectionSettings _settings;
    private readonly TimeProvider _time;
    private readonly IFuseDevice[] _devices;
    private readonly Props? _filesystemProps;
    private readonly TaskCompletionSource<ConnectionReady>? _ready;
    private readonly TaskCompletionSource<ConnectionEnd>? _ended;
    // What ended it so far (the worst; see ConnectionEnd.Worse), reported through _ended when the actor stops.
    private ConnectionEnd? _end;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NegotiatedProtocol _protocol;
    private readonly SemaphoreSlim _credit;
    private readonly ConnectionLoad _load;
    private readonly RequestBufferPool _pool;
    private readonly List<DeviceReader> _readers = new();
    private readonly Dictionary<ulong, FsRequest> _inFlight = new();
    private readonly Dictionary<ulong, FsRequest> _background = new();
    private readonly Dictionary<ulong, int> _pinnedNodes = new();
    private readonly List<FuseForgetOne> _deferredForgets = new();
    // When FUSE_INTERRUPT came for each interrupted request still in flight (its interrupt grace counts from there).
    // Kept here, not in the request, because few requests are ever interrupted; cleaned by the sweep.
    private readonly Dictionary<FsRequest, long> _interruptedAt = new(ReferenceEqualityComparer.Instance);
    private readonly List<(FsRequest Request, Errno Error, string Reason)> _expired = new();
    private readonly byte[] _scratch = new byte[4096];
    private readonly ulong[] _nodeScratch = new ulong[4];
    private readonly KernelNotifier _notifier;
    private readonly ConnectionMetrics _metrics;
    // Debug logging of each request and reply: from settings.Debug, flipped while mounted by SetDebugLogging.
    private bool _debug;
    private IActorRef _filesystem;
    private InitRequest? _pendingInit;
    private ITimer? _sweepTimer;
    // Whether the sweep timer ticks: it stops while nothing is in flight (nothing can expire) and starts again with the
    // next request, so an idle mount's daemon sleeps.
    private bool _sweepArmed = true;
    private int _devicesAlive;
    private long _answered;
    // EMFILE / ENFILE answers since the last warning about them, and when that warning was (0: never).
    private long _descriptorShortages, _lastShortageWarning;
    private static readonly TimeSpan ShortageWarningInterval = TimeSpan.FromSeconds(10);
    private bool _draining;

    public IStash Stash { get; set; } = null!;

    /// <param name="devices">The connection's queues (the mounted /dev/fuse fd and its clones, or a VirtualDevice).</param>
    /// <param name="filesystemProps">Props of the filesystem actor, started as this actor's child; or null with <paramref name="filesystem"/>.</param>
    /// <param name="filesystem">An existing filesystem actor (e.g. a shard region proxy), used when <paramref name="filesystemProps"/> is null.</param>
    /// <param name="ended">Given why the connection ended when it stops (<see cref="ConnectionEnd"/>).</param>
    public FuseConnection(IFuseDevice[] devices, Props? filesystemProps, IActorRef? filesystem, ConnectionSettings settings,
        TaskCompletionSource<ConnectionReady>? ready, TaskCompletionSource<ConnectionEnd>? ended = null)
    {
        _ended = ended;
        _devices = devices;
        _settings = settings;
        _time = settings.Time;
        _filesystemProps = filesystemProps;
        _ready = ready;
        _filesystem = filesystem ?? ActorRefs.Nobody;
        _protocol = new NegotiatedProtocol
        {
            EntryTimeout = settings.EntryTimeout,
            AttrTimeout = settings.AttrTimeout,
            NegativeTimeout = settings.NegativeTimeout,
            MaxWrite = settings.MaxWrite,
        };
        _credit = new SemaphoreSlim(settings.MaxInFlight, settings.MaxInFlight);
        _load = new ConnectionLoad(_credit, settings.MaxInFlight);
        _pool = new RequestBufferPool(settings.ReadBufferSize, settings.MaxInFlight + devices.Length);
        // Notifications may go to any queue of the connection; the first one lives as long as the connection.
        _notifier = new KernelNotifier(devices[0], Logging.GetLogger(Context.System, "fuse-notify"));
        _debug = settings.Debug;
        int creditLimit = settings.MaxInFlight;
        _metrics = new ConnectionMetrics(settings.MountName ?? Self.Path.Name, creditLimit, _time.TimestampFrequency,
            () => _inFlight.Count, () => _background.Count, _load.Unanswered) { Debug = _debug };
    }

    public static Props Props(IFuseDevice[] devices, Props filesystemProps, ConnectionSettings settings,
        TaskCompletionSource<ConnectionReady>? ready = null, TaskCompletionSource<ConnectionEnd>? ended = null) =>
        Akka.Actor.Props.Create(() => new FuseConnection(devices, filesystemProps, null, settings, ready, ended));

    public static Props Props(IFuseDevice[] devices, IActorRef filesystem, ConnectionSettings settings,
        TaskCompletionSource<ConnectionReady>? ready = null, TaskCompletionSource<ConnectionEnd>? ended = null) =>
        Akka.Actor.Props.Create(() => new FuseConnection(devices, null, filesystem, settings, ready, ended));

    /// <summary>The filesystem is this actor's only child. If it throws outside a handler (FilesystemActor answers EIO
    /// for a handler that throws) it keeps its state and goes on (Resume): one bad message must not wipe the tree.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _log.Error(e, "filesystem actor failed; resuming it");
        return Directive.Resume;
    });

    protected override void PreStart()
    {
        if (_filesystemProps is not null)
        {
            var props = _filesystemProps;
            // A filesystem that did not pick a dispatcher runs where its requests arrive (see InlineDispatcher).
            if (_settings.InlineDispatch && (string.IsNullOrEmpty(props.Dispatcher) || props.Dispatcher == Akka.Dispatch.Dispatchers.DefaultDispatcherId))
                props = props.WithDispatcher(InlineDispatcher.DispatcherId);
            _filesystem = Context.ActorOf(props, "fs");
        }
        Context.Watch(_filesystem);
        bool overIoUring = Array.Exists(_devices, d => d is IoUringFuseQueue);
        for (int i = 0; i < _devices.Length; i++)
            _readers.Add(new DeviceReader(_devices[i], Self, _credit, _pool, _protocol, _time, i, _load, creditAfterRead: overIoUring, log: _log));
        _load.SetReaders(_readers.ToArray());
        _devicesAlive = _readers.Count;
        foreach (var r in _readers) r.Start();
        var self = Self;
        _sweepTimer = _time.CreateTimer(static s => ((IActorRef)s!).Tell(SweepDeadlines.Instance, ActorRefs.NoSender), self,
            _settings.SweepInterval, _settings.SweepInterval);
        FuseMetrics.Register(_metrics);
        Become(AwaitingInit);
    }

    protected override void PreRestart(Exception reason, object message)
    {
        // The next instance serves on (the same devices, the same ended source): this is not the connection's end.
        _restarting = true;
        base.PreRestart(reason, message);
    }

    private bool _restarting;

    protected override void PostStop()
    {
        // First, so that nothing below that throws can leave the mount's end unexplained.
        if (!_restarting) _ended?.TrySetResult(_end ?? new ConnectionEnd(ConnectionEndKind.Stopped, "stopped"));
        FuseMetrics.Unregister(_metrics);
        _notifier.Stop();
        _sweepTimer?.Dispose();
        foreach (var r in _readers) r.Stop();
        // Wake readers parked on credit so their threads end (io_uring queues hold none while they wait: release only
        // what the semaphore has room for, or it refuses the whole release).
        int room = Math.Min(_readers.Count, _settings.MaxInFlight - _credit.CurrentCount);
        try { if (room > 0) _credit.Release(room); } catch (SemaphoreFullException) { }
        foreach (var r in _inFlight.Values) r.ReleaseBuffers();
        _inFlight.Clear();
        _ready?.TrySetException(new InvalidOperationException("the connection stopped before INIT was answered"));
    }

    protected override void OnReceive(object message) => AwaitingInit(message);

    // ------------------------------------------------------------------ states

    /// <summary>Before INIT is answered: the kernel sends nothing else; a device that does has it held until then.</summary>
    private void AwaitingInit(object message)
    {
        switch (message)
        {
            case InitRequest init:
                if (_debug) LogRequest(init);
                OnInit(init);
                break;
            case FilesystemInitRequest { IsReplied: true } answer:
                CompleteInit(answer.Error == Errno.Ok ? answer.Capabilities : FilesystemCapabilities.None,
                    answer.Error == Errno.Ok ? null : $"the filesystem answered its INIT with {answer.Error}");
                break;
            case MalformedRequest bad when bad.RawOpcode == (uint)Opcode.Init:
                // Stashed, it would wait for an INIT that already came: the kernel and Ready would wait for ever.
                _log.Error("malformed INIT from the kernel: {Reason}; refusing the connection", bad.Reason);
                if (bad.Unique != 0) Reject(bad, Errno.EPROTO);
                _ready?.TrySetException(new FuseDeviceException(Errno.EPROTO, $"malformed INIT from the kernel: {bad.Reason}"));
                BeginDraining("malformed INIT");
                break;
            case FsRequest { IsReplied: false }:
                Stash.Stash();
                break;
            case SweepDeadlines:
                if (_pendingInit is { } pending && _time.GetElapsedTime(pending.StartTimestamp) >= _settings.RequestTimeout)
                    CompleteInit(FilesystemCapabilities.None, "the filesystem did not answer its INIT within the request timeout");
                break;
            default:
                OnCommon(message);
                break;
        }
    }

    private void Serving(object message)
    {
        switch (message)
        {
            case FsRequest { IsReplied: true } done:
                OnFilesystemReply(done);
                break;
            case FsRequest incoming:
                OnKernelRequest(incoming);
                break;
            case SweepDeadlines:
                Sweep();
                break;
            default:
                OnCommon(message);
                break;
        }
    }

    /// <summary>Going away: answers still in progress are written, new requests get ENOTCONN.</summary>
    private void Draining(object message)
    {
        switch (message)
        {
            case FsRequest { IsReplied: true } done:
                OnFilesystemReply(done);
                break;
            case FsRequest incoming:
                if (ExpectsReply(incoming)) Reject(incoming, Errno.ENOTCONN);
                else ConsumeNoReply(incoming);
                break;
            case SweepDeadlines:
                Sweep();
                break;
            default:
                OnCommon(message);
                break;
        }
    }

    private void OnCommon(object message)
    {
        switch (message)
        {
            case DeviceGone gone:
                OnDeviceGone(gone);
                break;
            case Terminated t when t.ActorRef.Equals(_filesystem):
                OnFilesystemGone();
                break;
            case Terminated:
                break;
            case StopConnection:
                _end = ConnectionEnd.Worse(_end, new ConnectionEnd(ConnectionEndKind.Stopped, "asked to stop"));
                BeginDraining("asked to stop");
                AbortInFlight(Errno.ECONNABORTED);
                Context.Stop(Self);
                break;
            case SetDebugLogging debug:
                if (_debug != debug.On) _log.Info("debug logging {State}", debug.On ? "on" : "off");
                _debug = debug.On;
                _metrics.Debug = debug.On;
                break;
            case GetConnectionMetrics:
                Sender.Tell(_metrics);
                break;
            case GetConnectionStats:
                var perQueue = new long[_readers.Count];
                for (int i = 0; i < perQueue.Length; i++) perQueue[i] = _readers[i].RequestsRead;
                Sender.Tell(new ConnectionStats(_inFlight.Count, _background.Count, _pinnedNodes.Count, _deferredForgets.Count, _answered, perQueue));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    // ------------------------------------------------------------------ INIT

    private void OnInit(InitRequest init)
    {
        if (_pendingInit is not null)
        {
            _log.Warning("second INIT from the kernel while the first is being answered; answering EIO");
            Reject(init, Errno.EIO);
            return;
        }
        if (init.Major != FuseConstants.KernelVersion || init.Minor < FuseConstants.MinimumKernelMinor)
        {
            _log.Error("kernel speaks FUSE {Major}.{Minor}; this engine needs 7.{MinimumMinor} or newer: refusing the connection", init.Major, init.Minor, FuseConstants.MinimumKernelMinor);
            Reject(init, Errno.EPROTO);
            _ready?.TrySetException(new FuseDeviceException(Errno.EPROTO, $"kernel FUSE protocol {init.Major}.{init.Minor} is not supported"));
            BeginDraining("protocol mismatch");
            return;
        }
        // Ask the filesystem what it handles before negotiating (libfuse's init callback): it may not be safe to
        // promise the kernel everything it offers.
        _pendingInit = init;
        var ask = new FilesystemInitRequest
        {
            Header = init.Header, KernelMinor = init.Minor, KernelFlags = init.Flags, ReplyTo = Self, StartTimestamp = init.StartTimestamp,
            Notifier = _notifier,
        };
        _filesystem.Tell(ask, ActorRefs.NoSender);
    }

    private void CompleteInit(FilesystemCapabilities capabilities, string? fallbackReason)
    {
        if (_pendingInit is not { } init) return;
        _pendingInit = null;
        if (fallbackReason is not null) _log.Warning("{Reason}; negotiating for a filesystem that declares nothing", fallbackReason);
        // ATOMIC_O_TRUNC moves O_TRUNC from a SETATTR into OPEN, POSIX_LOCKS and FLOCK_LOCKS move locking from the kernel
        // into the filesystem: each only asked for when the filesystem says it handles it.
        var reply = InitNegotiation.Negotiate(init.Args, _settings.ToInitPolicy(capabilities));
        var flags = (InitFlags)(reply.Flags | ((ulong)reply.Flags2 << 32));
        _protocol.KernelMinor = init.Minor;
        _protocol.SetXAttrExt = (flags & InitFlags.SetXAttrExt) != 0;
        _protocol.Passthrough = (flags & InitFlags.Passthrough) != 0;
        _protocol.WritebackCache = (flags & InitFlags.WritebackCache) != 0;
        _protocol.MaxWrite = reply.MaxWrite;
        init.Reply(reply);
        AnswerKernel(init, Errno.Ok);
        Retire(init);
        // The kernel takes notifications once INIT is answered.
        _notifier.Start();
        _log.Info("FUSE connection ready: kernel 7.{KernelMinor}, transport {Transport}, max_write {MaxWrite}, flags {Flags}", init.Minor,
            (flags & InitFlags.OverIoUring) == 0 ? "/dev/fuse" : _settings.IoUringIdlePriority ? "io-uring (queue threads at idle priority)" : "io-uring",
            reply.MaxWrite, flags);
        _ready?.TrySetResult(new ConnectionReady(init.Minor, flags, reply.MaxWrite));
        Become(Serving);
        Stash.UnstashAll();
    }

    // ------------------------------------------------------------------ serving

    private void OnKernelRequest(FsRequest r)
    {
        if (_debug) LogRequest(r);
        switch (r)
        {
            case InitRequest init:
                _log.Warning("second INIT from the kernel; answering EIO");
                Reject(init, Errno.EIO);
                return;
            case InterruptRequest interrupt:
                OnInterrupt(interrupt);
                ConsumeNoReply(r);
                return;
            case ForgetRequest forget:
                OnForget(forget);
                ConsumeNoReply(r);
                return;
            case NotifyReplyRequest:
                ConsumeNoReply(r);
                return;
            case UnsupportedRequest:
                Reject(r, Errno.ENOSYS);
                return;
            case MalformedRequest bad:
                _log.Warning("malformed request from the kernel: {Reason} ({Request}); answering EINVAL", bad.Reason, bad);
                if (bad.Unique != 0 && ExpectsReply(bad)) Reject(r, Errno.EINVAL);
                else ConsumeNoReply(r);
                return;
        }
        // DESTROY (fuseblk, virtio-fs) goes to the filesystem like any request: it cleans up, then it is answered.
        r.ReplyTo = Self;
        if (!_inFlight.TryAdd(r.Unique, r))
        {
            _log.Warning("duplicate unique {Unique} from the kernel ({Request}); answering EIO", r.Unique, r);
            Reject(r, Errno.EIO);
            return;
        }
        ArmSweep();
        if (r.WaitsIndefinitely)
        {
            // A SETLKW may wait for as long as another process holds its lock, and the UNLOCK that ends the wait has to
            // be read first: its credit goes back now, so waiters can never starve the readers.
            r.CreditReturned = true;
            _credit.Release();
        }
        _filesystem.Tell(r, ActorRefs.NoSender);
    }

    /// <summary>FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY are never answered, well-formed or not (the operation table).</summary>
    private static bool ExpectsReply(FsRequest r) => Operations.For(r.Opcode).ExpectsReply;

    private void OnFilesystemReply(FsRequest r)
    {
        if (r is FilesystemInitRequest) return; // answered after the engine stopped waiting for it
        if (r.IsLateReply)
        {
            // The engine answered the kernel already (timeout / interrupt grace); the filesystem just finished.
            if (_background.ContainsKey(r.Unique))
                _log.Info("late reply from the filesystem for {Request} dropped (the kernel was answered before)", r);
            Retire(r);
            return;
        }
        if (!_inFlight.TryGetValue(r.Unique, out var known) || !ReferenceEquals(known, r))
        {
            _log.Warning("reply for a request that is not in flight: {Reply}; dropped", r);
            r.ReleaseBuffers();
            return;
        }
        _inFlight.Remove(r.Unique);
        // Before the reply: over io_uring the reply may commit the ring entry at once, which would copy data still lent.
        r.ReleaseLentData();
        AnswerKernel(r, r.Error);
        Retire(r);
    }

    private void OnInterrupt(InterruptRequest interrupt)
    {
        _metrics.Interrupts++;
        if (_inFlight.TryGetValue(interrupt.TargetUnique, out var target))
        {
            if (!target.IsInterrupted)
            {
                target.MarkInterrupted();
                _interruptedAt[target] = _time.GetTimestamp();
                ArmSweep(); // its grace is a deadline (a waiting SETLKW alone leaves the sweep stopped)
                // The filesystem handles it in its own actor (FilesystemActor cancels the request's token there).
                _filesystem.Tell(new RequestInterrupted(target), ActorRefs.NoSender);
            }
            if (_debug) _log.Info("INTERRUPT for {Request}: delivered", target);
            return;
        }
        // Not known (yet): with several queues the target may still be on its way from another reader. EAGAIN makes the
        // kernel queue the interrupt again; if the target was already answered the kernel just drops it.
        var head = ReplyEncoder.OutHeader(_scratch, interrupt.Unique, Errno.EAGAIN, 0);
        if (interrupt.Device?.Write(head, default) < 0 && _devices.Length > 1)
        {
            foreach (var d in _devices)
                if (!ReferenceEquals(d, interrupt.Device) && d.Write(head, default) >= 0) break;
        }
    }

    private void OnForget(ForgetRequest forget)
    {
        if (_pinnedNodes.Count == 0)
        {
            _filesystem.Tell(forget, ActorRefs.NoSender);
            return;
        }
        // A node still used by a request the filesystem is finishing in the background must not be freed under it:
        // its FORGET waits until that request ends (see Retire).
        var pass = new List<FuseForgetOne>(forget.Count);
        foreach (var f in forget.Forgets)
        {
            if (_pinnedNodes.ContainsKey(f.NodeId)) _deferredForgets.Add(f);
            else pass.Add(f);
        }
        if (pass.Count > 0)
            _filesystem.Tell(new ForgetRequest { Header = forget.Header, Items = pass.ToArray(), Count = pass.Count }, ActorRefs.NoSender);
    }

    private void ArmSweep()
    {
        if (_sweepArmed) return;
        _sweepArmed = true;
        _sweepTimer?.Change(_settings.SweepInterval, _settings.SweepInterval);
    }

    private void DisarmSweep()
    {
        if (!_sweepArmed) return;
        _sweepArmed = false;
        _sweepTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The request deadlines, checked together: EINTR once an interrupted request's grace is over, EIO
    /// once a request outlived the request timeout (except a SETLKW, which may wait as long as its lock is held). Either one moves the request to the background.</summary>
    private void Sweep()
    {
        foreach (var r in _interruptedAt.Keys)
            if (!_inFlight.TryGetValue(r.Unique, out var still) || !ReferenceEquals(still, r)) _interruptedAt.Remove(r);
        if (_inFlight.Count == 0)
        {
            // Nothing can expire before the next request, which starts the timer again. Ticking on, it woke the thread
            // pool ten times a second on an idle mount (with the timer's thread and the pool's hand-offs, ~70 wake-ups
            // and ~13 ms of CPU a second for an idle memfs).
            DisarmSweep();
            return;
        }
        long now = _time.GetTimestamp();
        bool deadlinesLeft = false;
        foreach (var r in _inFlight.Values)
        {
            bool interrupted = _interruptedAt.TryGetValue(r, out var interruptedAt);
            if (interrupted && _time.GetElapsedTime(interruptedAt, now) >= _settings.InterruptGrace)
                _expired.Add((r, Errno.EINTR, $"caller interrupted and no reply within the interrupt grace ({_settings.InterruptGrace.TotalSeconds:0.###} s)"));
            else if (!r.WaitsIndefinitely && _time.GetElapsedTime(r.StartTimestamp, now) >= _settings.RequestTimeout)
                _expired.Add((r, Errno.EIO, $"no reply within the request timeout ({_settings.RequestTimeout.TotalSeconds:0.###} s)"));
            else if (interrupted || !r.WaitsIndefinitely)
                deadlinesLeft = true;
        }
        // Only SETLKWs waiting for their locks, which have no deadline until interrupted (the interrupt starts the timer
        // again): ticking on, the sweep woke the thread pool ten times a second for as long as a lock was held.
        if (!deadlinesLeft) DisarmSweep();
        foreach (var (r, error, reason) in _expired)
        {
            if (!r.TryClaimForEngine(error)) continue; // the filesystem's reply is already on its way to us
            _inFlight.Remove(r.Unique);
            _log.Warning("{Request}: {Reason}; answering {Errno}", r, reason, error);
            if (error == Errno.EINTR) _metrics.InterruptGraceExpired++;
            else _metrics.TimedOut++;
            Pin(r);
            AnswerKernel(r, error);
        }
        _expired.Clear();
    }

    // ------------------------------------------------------------------ the end of a request

    /// <summary>The kernel's side of a request ends: its reply is written (when it has a device) and its credit
    /// returns to the readers. The one place credit comes back for an answered request.</summary>
    private void AnswerKernel(FsRequest r, Errno error)
    {
        WriteReply(r, error);
        if (!r.CreditReturned) _credit.Release();
    }

    /// <summary>A request that needs no reply (FORGET, INTERRUPT, NOTIFY_REPLY) is done as soon as it is read.</summary>
    private void ConsumeNoReply(FsRequest r)
    {
        if (r.Device is not null) _metrics.Consumed(r.Header.Opcode);
        _credit.Release();
        r.ReleaseBuffers();
    }

    /// <summary>Answers a request the filesystem never saw (ENOSYS, EINVAL, ENOTCONN, EPROTO) and ends it.</summary>
    private void Reject(FsRequest r, Errno error)
    {
        r.TryClaimForEngine(error);
        AnswerKernel(r, error);
        r.ReleaseBuffers();
    }

    /// <summary>The filesystem's side of a request ends: a request the engine had answered leaves the background
    /// and unpins its nodes (FORGETs that waited for them go on to the filesystem), and its buffers are freed.</summary>
    private void Retire(FsRequest r)
    {
        if (_background.Count != 0 && _background.Remove(r.Unique, out var background) && ReferenceEquals(background, r)) Unpin(r);
        r.ReleaseBuffers();
    }

    private void Pin(FsRequest r)
    {
        _background[r.Unique] = r;
        int n = r.ReferencedNodes(_nodeScratch);
        for (int i = 0; i < n; i++)
        {
            var node = _nodeScratch[i];
            if (node != 0) _pinnedNodes[node] = _pinnedNodes.GetValueOrDefault(node) + 1;
        }
    }

    private void Unpin(FsRequest r)
    {
        int n = r.ReferencedNodes(_nodeScratch);
        for (int i = 0; i < n; i++)
        {
            var node = _nodeScratch[i];
            if (node == 0 || !_pinnedNodes.TryGetValue(node, out var count)) continue;
            if (count > 1) _pinnedNodes[node] = count - 1;
            else _pinnedNodes.Remove(node);
        }
        if (_deferredForgets.Count == 0) return;
        var released = new List<FuseForgetOne>();
        _deferredForgets.RemoveAll(f =>
        {
            if (_pinnedNodes.ContainsKey(f.NodeId)) return false;
            released.Add(f);
            return true;
        });
        if (released.Count > 0)
            _filesystem.Tell(new ForgetRequest { Items = released.ToArray(), Count = released.Count }, ActorRefs.NoSender);
    }

    private void WriteReply(FsRequest r, Errno error)
    {
        var device = r.Device;
        if (device is null) return;
        if (r.ReplyWritten)
        {
            // The filesystem's thread wrote it (ReadRequest.ReplyFromFile); what is left is the bookkeeping.
            int length = r is ReadRequest read ? read.ReplyLength : 0;
            Written(r, error, length, r.ReplyWrittenResult);
            return;
        }
        ReadOnlySpan<byte> payload = default;
        if (error == Errno.Ok)
        {
            var invalid = r.ValidateReply();
            if (invalid is not null)
            {
                _log.Error("filesystem reply to {Request} is invalid: {Reason}; answering EIO", r, invalid);
                error = Errno.EIO;
            }
            else
            {
                payload = r.EncodeReply(_scratch.AsSpan(FuseConstants.OutHeaderSize), _protocol);
            }
        }
        // The payload was encoded after the header's room in _scratch (or lives in the request's own buffer).
        int written = device.Write(ReplyEncoder.OutHeader(_scratch, r.Unique, error, payload.Length), payload);
        Written(r, error, payload.Length, written);
    }

    /// <summary>
    /// A filesystem answered EMFILE or ENFILE: the caller's own descriptor table is the kernel's to check, so this is the
    /// daemon (or the machine) out of descriptors, and every open and lookup that needs one fails until some are closed.
    /// Said at once, then at most every 10 s with the count meanwhile: an operator must see it, a storm must not flood
    /// the log.
    /// </summary>
    private void WarnOfDescriptorShortage(FsRequest r, Errno error)
    {
        _descriptorShortages++;
        long now = _time.GetTimestamp();
        if (_lastShortageWarning != 0 && _time.GetElapsedTime(_lastShortageWarning, now) < ShortageWarningInterval) return;
        _log.Warning("{Request} answered {Errno} ({Count} such answers since the last warning): the daemon is out of file "
            + "descriptors ({What}). A filesystem that holds one per node the kernel knows (PassthroughFs) needs a higher "
            + "limit (ulimit -n, LimitNOFILE= for a service) or a shorter entry timeout, so that the kernel forgets "
            + "nodes sooner", r, error, _descriptorShortages,
            error == Errno.EMFILE ? "the process's limit, RLIMIT_NOFILE" : "the machine's, fs.file-max");
        _lastShortageWarning = now;
        _descriptorShortages = 0;
    }

    /// <summary>After a reply was written: metrics, a failed write's log line, the debug line.</summary>
    private void Written(FsRequest r, Errno error, int payloadLength, int written)
    {
        _answered++;
        _metrics.Answered(r.Header.Opcode, error, _metrics.WantsLatency ? _time.GetTimestamp() - r.StartTimestamp : -1, _metrics.MountTagPair);
        if (error == Errno.Ok)
        {
            if (r.Header.Opcode == (uint)Opcode.Read) _metrics.BytesRead += payloadLength;
            else if (r is WriteRequest w) _metrics.BytesWritten += w.Written;
        }
        else if (error is Errno.EMFILE or Errno.ENFILE) WarnOfDescriptorShortage(r, error);
        if (written < 0)
        {
            var err = (Errno)(-written);
            // ENOENT: the kernel no longer waits for it (caller killed and connection aborted, or unmounted). Not our bug.
            if (err == Errno.ENOENT) _log.Debug("kernel no longer waits for {Request}", r);
            else _log.Error("writing the reply to {Request} failed: {Errno}", r, err);
        }
        if (_debug)
        {
            var us = _time.GetElapsedTime(r.StartTimestamp).TotalMicroseconds;
            _log.Info("{Opcode} unique={Unique} node={Node} -> {Result} len={Length} in {Microseconds:0} µs", r.Opcode, r.Unique, r.NodeId, error == Errno.Ok ? "ok" : error.ToString(), payloadLength, us);
        }
    }

    /// <summary>The debug line of a request as it arrives: opcode, unique, node, the caller and the arguments.
    /// Only called with debug on (it formats and allocates).</summary>
    private void LogRequest(FsRequest r) =>
        _log.Info("{Opcode} unique={Unique} node={Node} {Arguments}", r.Opcode, r.Unique, r.NodeId, RequestDescription.Describe(r));

    // ------------------------------------------------------------------ going away

    private void OnDeviceGone(DeviceGone gone)
    {
        if (gone.Failure is not null) _log.Error(gone.Failure, "reader of {Device} failed", gone.Device.Name);
        else _log.Info("{Device} closed: {Reason}", gone.Device.Name, gone.Reason);
        // The kernel sends each request to the ring of the CPU its caller runs on, so a ring queue that ended while the
        // connection lives (not ENODEV, the end of the mount) would leave that CPU's callers waiting for ever, where no
        // request timeout of ours reaches them: the whole connection ends instead, and says why.
        bool ringLost = gone.Device is IoUringFuseQueue && (gone.Failure is not null || gone.Reason != Errno.ENODEV) && !_draining;
        bool last = --_devicesAlive <= 0;
        // ENODEV counts from the last queue only: an io_uring queue the kernel never started (INIT chose /dev/fuse)
        // reads it early, while the connection serves on.
        if (gone.Failure is not null || gone.Reason != Errno.ENODEV || last)
            _end = ConnectionEnd.Worse(_end, gone switch
            {
                { Failure: { } e } => new ConnectionEnd(ConnectionEndKind.Failed, $"the reader of {gone.Device.Name} failed: {e.Message}"),
                _ when ringLost => new ConnectionEnd(ConnectionEndKind.Failed, $"{gone.Device.Name} ended ({gone.Reason})"),
                { Reason: Errno.ENODEV } => new ConnectionEnd(ConnectionEndKind.Unmounted, "unmounted"),
                { Reason: Errno.ECONNABORTED } => new ConnectionEnd(ConnectionEndKind.Aborted, $"{gone.Device.Name} was aborted (ECONNABORTED)"),
                _ => new ConnectionEnd(ConnectionEndKind.Failed, $"{gone.Device.Name} ended ({gone.Reason})"),
            });
        if (!last && !ringLost) return;
        if (ringLost)
        {
            _log.Error("{Device} ended ({Reason}): the requests of its CPU would never be served; ending the connection", gone.Device.Name, gone.Reason);
            ((IoUringFuseQueue)gone.Device).ReportLost(gone.Reason); // FuseMount aborts the kernel's side when we are gone
        }
        BeginDraining(ringLost ? $"{gone.Device.Name} ended ({gone.Reason})" : $"device gone ({gone.Reason})");
        AbortInFlight(Errno.ECONNABORTED);
        Context.Stop(Self);
    }

    /// <summary>Cancels what the filesystem is still doing and answers it (the kernel may no longer listen: then the write just fails).</summary>
    private void AbortInFlight(Errno error)
    {
        foreach (var r in _inFlight.Values)
        {
            if (!r.IsInterrupted)
            {
                r.MarkInterrupted();
                _filesystem.Tell(new RequestInterrupted(r), ActorRefs.NoSender);
            }
            if (r.TryClaimForEngine(error)) AnswerKernel(r, error);
        }
        // Buffers stay with requests the filesystem may still be reading; they go with the connection.
        _inFlight.Clear();
    }

    private void OnFilesystemGone()
    {
        _log.Error("the filesystem actor stopped; every request in flight is answered EIO and every later one ENOTCONN");
        _end = ConnectionEnd.Worse(_end, new ConnectionEnd(ConnectionEndKind.Failed, "the filesystem actor stopped"));
        if (_pendingInit is not null) CompleteInit(FilesystemCapabilities.None, "the filesystem stopped before answering its INIT");
        foreach (var r in _inFlight.Values)
        {
            if (r.TryClaimForEngine(Errno.EIO)) AnswerKernel(r, Errno.EIO);
            r.ReleaseBuffers();
        }
        _inFlight.Clear();
        _filesystem = Context.System.DeadLetters;
        // The mount stays (the kernel keeps it until unmounted); it can no longer serve anything.
        _draining = true;
        Become(Draining);
    }

    private void BeginDraining(string reason)
    {
        if (_draining) return;
        _draining = true;
        _notifier.Stop();
        _log.Info("connection stopping: {Reason}", reason);
        foreach (var reader in _readers) reader.Stop();
        _filesystem.Tell(new DestroyRequest(), ActorRefs.NoSender);
        Become(Draining);
    }
}
