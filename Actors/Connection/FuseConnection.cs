using System.Diagnostics;
using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// The daemon side of one FUSE connection: the seed's fuse_conn, seen from user space. It gates everything on
/// INIT, owns the requests in flight (a dictionary keyed by unique: pending at the filesystem), the credit the
/// readers draw on, the requests the engine answered for a stuck filesystem (background: their nodes stay alive
/// across FORGET until the filesystem lets go), routes FUSE_INTERRUPT to its target, and validates, encodes and
/// writes every reply. On unmount or device loss every request in flight is answered or dropped, nothing hangs.
/// </summary>
public sealed class FuseConnection : UntypedActor, IWithTimers, IWithUnboundedStash
{
    private readonly ConnectionSettings _settings;
    private readonly IFuseDevice[] _devices;
    private readonly Props? _filesystemProps;
    private readonly TaskCompletionSource<ConnectionReady>? _ready;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NegotiatedProtocol _protocol;
    private readonly SemaphoreSlim _credit;
    private readonly RequestBufferPool _pool;
    private readonly List<DeviceReader> _readers = new();
    private readonly Dictionary<ulong, FsRequest> _inFlight = new();
    private readonly Dictionary<ulong, IActorRef> _watchers = new();
    private readonly Dictionary<ulong, FsRequest> _background = new();
    private readonly Dictionary<ulong, int> _backgroundNodeRefs = new();
    private readonly List<FuseForgetOne> _deferredForgets = new();
    private readonly byte[] _scratch = new byte[4096];
    private readonly ulong[] _nodeScratch = new ulong[4];
    private IActorRef _filesystem;
    private int _devicesAlive;
    private long _answered;
    private bool _initialized;
    private bool _stopping;

    public ITimerScheduler Timers { get; set; } = null!;
    public IStash Stash { get; set; } = null!;

    /// <param name="devices">The connection's queues (the mounted /dev/fuse fd and its clones, or a VirtualDevice).</param>
    /// <param name="filesystemProps">Props of the filesystem actor, started as this actor's child; or null with <paramref name="filesystem"/>.</param>
    /// <param name="filesystem">An existing filesystem actor (e.g. a shard region proxy), used when <paramref name="filesystemProps"/> is null.</param>
    public FuseConnection(IFuseDevice[] devices, Props? filesystemProps, IActorRef? filesystem, ConnectionSettings settings, TaskCompletionSource<ConnectionReady>? ready)
    {
        _devices = devices;
        _settings = settings;
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
        _pool = new RequestBufferPool(settings.ReadBufferSize, settings.MaxInFlight + devices.Length);
    }

    public static Props Props(IFuseDevice[] devices, Props filesystemProps, ConnectionSettings settings, TaskCompletionSource<ConnectionReady>? ready = null) =>
        Akka.Actor.Props.Create(() => new FuseConnection(devices, filesystemProps, null, settings, ready));

    public static Props Props(IFuseDevice[] devices, IActorRef filesystem, ConnectionSettings settings, TaskCompletionSource<ConnectionReady>? ready = null) =>
        Akka.Actor.Props.Create(() => new FuseConnection(devices, null, filesystem, settings, ready));

    /// <summary>A filesystem that throws keeps its state and goes on (Resume): one bad request must not wipe the tree.
    /// Request actors are never restarted (a restarted deadline is meaningless): they stop.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        _log.Error(e, "child actor failed; resuming");
        return Directive.Resume;
    });

    protected override void PreStart()
    {
        if (_filesystemProps is not null)
        {
            var props = _filesystemProps;
            // A filesystem that did not pick a dispatcher runs where its requests arrive (see InlineDispatcher).
            if (_settings.InlineDispatch && (string.IsNullOrEmpty(props.Dispatcher) || props.Dispatcher == Akka.Dispatch.Dispatchers.DefaultDispatcherId))
                props = props.WithDispatcher(InlineDispatcher.Id);
            _filesystem = Context.ActorOf(props, "fs");
        }
        Context.Watch(_filesystem);
        for (int i = 0; i < _devices.Length; i++)
        {
            var reader = new DeviceReader(_devices[i], Self, _credit, _pool, _protocol, i);
            _readers.Add(reader);
        }
        _devicesAlive = _readers.Count;
        foreach (var r in _readers) r.Start();
        Timers.StartPeriodicTimer("sweep", SweepSlowRequests.Instance, _settings.SweepInterval);
    }

    protected override void PostStop()
    {
        foreach (var r in _readers) r.Stop();
        // Wake readers parked on credit so their threads end.
        try { _credit.Release(_readers.Count); } catch (SemaphoreFullException) { }
        foreach (var r in _inFlight.Values) r.ReleaseBuffers();
        _inFlight.Clear();
        _ready?.TrySetException(new InvalidOperationException("the connection stopped before INIT was answered"));
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case FsRequest { IsReplied: true } done:
                OnFilesystemReply(done);
                break;
            case FsRequest incoming:
                OnKernelRequest(incoming);
                break;
            case AnswerOnBehalf a:
                OnAnswerOnBehalf(a);
                break;
            case SweepSlowRequests:
                SweepSlow();
                break;
            case DeviceGone gone:
                OnDeviceGone(gone);
                break;
            case Terminated t when t.ActorRef.Equals(_filesystem):
                OnFilesystemGone();
                break;
            case Terminated:
                break;
            case StopConnection:
                BeginStop("asked to stop");
                AbortInFlight(Errno.ECONNABORTED);
                Context.Stop(Self);
                break;
            case GetConnectionStats:
                var perQueue = new long[_readers.Count];
                for (int i = 0; i < perQueue.Length; i++) perQueue[i] = _readers[i].RequestsRead;
                Sender.Tell(new ConnectionStats(_inFlight.Count, _background.Count, _watchers.Count, _deferredForgets.Count, _answered, perQueue));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnKernelRequest(FsRequest r)
    {
        if (!_initialized && r is not InitRequest)
        {
            // The kernel sends nothing before INIT is answered; a device that does gets its requests held until then.
            Stash.Stash();
            return;
        }
        switch (r)
        {
            case InitRequest init:
                OnInit(init);
                return;
            case InterruptRequest interrupt:
                OnInterrupt(interrupt);
                _credit.Release();
                return;
            case ForgetRequest forget:
                OnForget(forget);
                _credit.Release();
                return;
            case NotifyReplyRequest:
                _credit.Release();
                return;
            case UnsupportedRequest:
                AnswerNow(r, Errno.ENOSYS);
                return;
            case MalformedRequest bad:
                _log.Warning("malformed request from the kernel: {0} ({1}); answering EINVAL", bad.Reason, bad);
                // FORGET, BATCH_FORGET, INTERRUPT and NOTIFY_REPLY are never answered, malformed or not.
                if (bad.Unique != 0 && (Opcode)bad.RawOpcode is not (Opcode.Forget or Opcode.BatchForget or Opcode.Interrupt or Opcode.NotifyReply))
                    AnswerNow(r, Errno.EINVAL);
                else _credit.Release();
                return;
            case DestroyRequest:
                // fuseblk and virtio-fs send DESTROY before going away: let the filesystem clean up, then answer.
                break;
        }
        if (_stopping)
        {
            AnswerNow(r, Errno.ENOTCONN);
            return;
        }
        r.ReplyTo = Self;
        if (!_inFlight.TryAdd(r.Unique, r))
        {
            _log.Warning("duplicate unique {0} from the kernel ({1}); answering EIO", r.Unique, r);
            AnswerNow(r, Errno.EIO);
            return;
        }
        _filesystem.Tell(r, ActorRefs.NoSender);
    }

    private void OnFilesystemReply(FsRequest r)
    {
        if (r.IsLateReply)
        {
            // The engine answered the kernel already (timeout / interrupt grace); the filesystem just finished.
            if (_background.Remove(r.Unique))
            {
                ReleaseBackgroundNodes(r);
                _log.Info("late reply from the filesystem for {0} dropped (the kernel was answered before)", r);
            }
            r.ReleaseBuffers();
            return;
        }
        if (!_inFlight.TryGetValue(r.Unique, out var known) || !ReferenceEquals(known, r))
        {
            _log.Warning("reply for a request that is not in flight: {0}; dropped", r);
            r.ReleaseBuffers();
            return;
        }
        _inFlight.Remove(r.Unique);
        StopWatcher(r.Unique);
        WriteReply(r, r.Error);
        _credit.Release();
    }

    /// <summary>Answers a request the filesystem never saw (ENOSYS, EINVAL, ENOTCONN) and gives its credit back.</summary>
    private void AnswerNow(FsRequest r, Errno error)
    {
        r.TryClaimForEngine(error);
        WriteReply(r, error);
        _credit.Release();
    }

    private void WriteReply(FsRequest r, Errno error)
    {
        var device = r.Device;
        if (device is null) { r.ReleaseBuffers(); return; }
        ReadOnlySpan<byte> payload = default;
        if (error == Errno.Ok)
        {
            var invalid = r.ValidateReply();
            if (invalid is not null)
            {
                _log.Error("filesystem reply to {0} is invalid: {1}; answering EIO", r, invalid);
                error = Errno.EIO;
            }
            else
            {
                payload = r.EncodeReply(_scratch.AsSpan(FuseConstants.OutHeaderSize), _protocol);
            }
        }
        var header = new FuseOutHeader { Len = (uint)(FuseConstants.OutHeaderSize + payload.Length), Error = -(int)error, Unique = r.Unique };
        MemoryMarshal.Write(_scratch, in header);
        int written = device.Write(_scratch.AsSpan(0, FuseConstants.OutHeaderSize), payload);
        _answered++;
        if (written < 0)
        {
            var err = (Errno)(-written);
            // ENOENT: the kernel no longer waits for it (caller killed and connection aborted, or unmounted). Not our bug.
            if (err == Errno.ENOENT) _log.Debug("kernel no longer waits for {0}", r);
            else _log.Error("writing the reply to {0} failed: {1}", r, err);
        }
        if (_settings.Debug)
        {
            var us = Stopwatch.GetElapsedTime(r.StartTimestamp).TotalMicroseconds;
            _log.Info("{0} unique={1} node={2} -> {3} len={4} in {5:0} µs", r.Opcode, r.Unique, r.NodeId, error == Errno.Ok ? "ok" : error.ToString(), payload.Length, us);
        }
        r.ReleaseBuffers();
    }

    private void OnInit(InitRequest init)
    {
        if (_initialized)
        {
            _log.Warning("second INIT from the kernel; answering EIO");
            AnswerNow(init, Errno.EIO);
            return;
        }
        if (init.Major != FuseConstants.KernelVersion || init.Minor < FuseConstants.MinimumKernelMinor)
        {
            _log.Error("kernel speaks FUSE {0}.{1}; this engine needs 7.{2} or newer: refusing the connection", init.Major, init.Minor, FuseConstants.MinimumKernelMinor);
            AnswerNow(init, Errno.EPROTO);
            _ready?.TrySetException(new FuseDeviceException(Errno.EPROTO, $"kernel FUSE protocol {init.Major}.{init.Minor} is not supported"));
            BeginStop("protocol mismatch");
            return;
        }
        var reply = InitNegotiation.Negotiate(init.Args, _settings.ToInitPolicy());
        var flags = (InitFlags)(reply.Flags | ((ulong)reply.Flags2 << 32));
        _protocol.KernelMinor = init.Minor;
        _protocol.SetXAttrExt = (flags & InitFlags.SetXAttrExt) != 0;
        _protocol.Passthrough = (flags & InitFlags.Passthrough) != 0;
        _protocol.MaxWrite = reply.MaxWrite;
        init.ReplyTo = null;
        init.Reply(reply);
        WriteReply(init, Errno.Ok);
        _credit.Release();
        _initialized = true;
        _log.Info("FUSE connection ready: kernel 7.{0}, max_write {1}, flags {2}", init.Minor, reply.MaxWrite, flags);
        _ready?.TrySetResult(new ConnectionReady(init.Minor, flags, reply.MaxWrite));
        Stash.UnstashAll();
    }

    private void OnInterrupt(InterruptRequest interrupt)
    {
        if (_inFlight.TryGetValue(interrupt.TargetUnique, out var target))
        {
            target.MarkInterrupted();
            if (_watchers.TryGetValue(target.Unique, out var watcher)) watcher.Tell(CallerInterrupted.Instance);
            else StartWatcher(target, interrupted: true);
            if (_settings.Debug) _log.Info("INTERRUPT for {0}: delivered", target);
            return;
        }
        // Not known (yet): with several queues the target may still be on its way from another reader. EAGAIN makes the
        // kernel queue the interrupt again; if the target was already answered the kernel just drops it.
        Span<byte> head = stackalloc byte[FuseConstants.OutHeaderSize];
        var header = new FuseOutHeader { Len = FuseConstants.OutHeaderSize, Error = -(int)Errno.EAGAIN, Unique = interrupt.Unique };
        MemoryMarshal.Write(head, in header);
        if (interrupt.Device?.Write(head, default) < 0 && _devices.Length > 1)
        {
            foreach (var d in _devices)
                if (!ReferenceEquals(d, interrupt.Device) && d.Write(head, default) >= 0) break;
        }
    }

    private void OnForget(ForgetRequest forget)
    {
        if (_backgroundNodeRefs.Count == 0)
        {
            _filesystem.Tell(forget, ActorRefs.NoSender);
            return;
        }
        // A node still used by a request the filesystem is finishing in the background must not be freed under it:
        // its FORGET waits until that request ends (the seed held an inode reference for a backgrounded request).
        var pass = new List<FuseForgetOne>(forget.Count);
        foreach (var f in forget.Forgets)
        {
            if (_backgroundNodeRefs.ContainsKey(f.NodeId)) _deferredForgets.Add(f);
            else pass.Add(f);
        }
        if (pass.Count > 0)
            _filesystem.Tell(new ForgetRequest { Header = forget.Header, Items = pass.ToArray(), Count = pass.Count }, ActorRefs.NoSender);
    }

    private void OnAnswerOnBehalf(AnswerOnBehalf a)
    {
        StopWatcher(a.Unique);
        if (!_inFlight.TryGetValue(a.Unique, out var r)) return;
        if (!r.TryClaimForEngine(a.Error)) return; // the filesystem's reply is already on its way to us
        _inFlight.Remove(a.Unique);
        _log.Warning("{0}: {1}; answering {2}", r, a.Reason, a.Error);
        MoveToBackground(r);
        WriteReply(r, a.Error);
        _credit.Release();
    }

    private void MoveToBackground(FsRequest r)
    {
        _background[r.Unique] = r;
        int n = r.ReferencedNodes(_nodeScratch);
        for (int i = 0; i < n; i++)
        {
            var node = _nodeScratch[i];
            if (node == 0) continue;
            _backgroundNodeRefs[node] = _backgroundNodeRefs.GetValueOrDefault(node) + 1;
        }
    }

    private void ReleaseBackgroundNodes(FsRequest r)
    {
        int n = r.ReferencedNodes(_nodeScratch);
        for (int i = 0; i < n; i++)
        {
            var node = _nodeScratch[i];
            if (node == 0 || !_backgroundNodeRefs.TryGetValue(node, out var count)) continue;
            if (count > 1) _backgroundNodeRefs[node] = count - 1;
            else _backgroundNodeRefs.Remove(node);
        }
        if (_deferredForgets.Count == 0) return;
        var released = new List<FuseForgetOne>();
        _deferredForgets.RemoveAll(f =>
        {
            if (_backgroundNodeRefs.ContainsKey(f.NodeId)) return false;
            released.Add(f);
            return true;
        });
        if (released.Count > 0)
            _filesystem.Tell(new ForgetRequest { Items = released.ToArray(), Count = released.Count }, ActorRefs.NoSender);
    }

    private void SweepSlow()
    {
        if (_inFlight.Count == _watchers.Count) return;
        long threshold = (long)(_settings.SlowRequestThreshold.TotalSeconds * Stopwatch.Frequency);
        long now = Stopwatch.GetTimestamp();
        foreach (var r in _inFlight.Values)
        {
            if (now - r.StartTimestamp >= threshold && !_watchers.ContainsKey(r.Unique))
                StartWatcher(r, r.IsInterrupted);
        }
    }

    private void StartWatcher(FsRequest r, bool interrupted)
    {
        var watcher = Context.ActorOf(RequestActor.Props(r.Unique, r.StartTimestamp, _settings.RequestTimeout, _settings.InterruptGrace, interrupted));
        _watchers[r.Unique] = watcher;
    }

    private void StopWatcher(ulong unique)
    {
        if (_watchers.Remove(unique, out var w)) Context.Stop(w);
    }

    private void OnDeviceGone(DeviceGone gone)
    {
        if (gone.Failure is not null) _log.Error(gone.Failure, "reader of {0} failed", gone.Device.Name);
        else _log.Info("{0} closed: {1}", gone.Device.Name, gone.Reason);
        if (--_devicesAlive > 0) return;
        BeginStop($"device gone ({gone.Reason})");
        AbortInFlight(Errno.ECONNABORTED);
        Context.Stop(Self);
    }

    /// <summary>Cancels what the filesystem is still doing and answers it (the kernel may no longer listen: then the write just fails).</summary>
    private void AbortInFlight(Errno error)
    {
        foreach (var r in _inFlight.Values)
        {
            r.MarkInterrupted();
            if (r.TryClaimForEngine(error)) WriteReply(r, error);
            else r.ReleaseBuffers();
        }
        _inFlight.Clear();
        foreach (var w in _watchers.Values) Context.Stop(w);
        _watchers.Clear();
    }

    private void OnFilesystemGone()
    {
        _log.Error("the filesystem actor stopped; every request in flight and every later one is answered EIO");
        foreach (var r in _inFlight.Values.ToArray())
        {
            _inFlight.Remove(r.Unique);
            StopWatcher(r.Unique);
            if (r.TryClaimForEngine(Errno.EIO)) WriteReply(r, Errno.EIO);
            _credit.Release();
        }
        _filesystem = Context.System.DeadLetters;
        _stopping = true;
    }

    private void BeginStop(string reason)
    {
        if (_stopping) return;
        _stopping = true;
        _log.Info("connection stopping: {0}", reason);
        foreach (var reader in _readers) reader.Stop();
        _filesystem.Tell(new DestroyRequest(), ActorRefs.NoSender);
    }
}
