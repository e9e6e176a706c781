using Akka.Actor;
using Akka.Event;
using FuseActors.Actors.Connection;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Mounting;

/// <summary>
/// A filesystem actor served on a FUSE connection: mounted through /dev/fuse (<see cref="MountAsync"/>) or on any
/// <see cref="IFuseDevice"/> such as the in-process VirtualDevice (<see cref="Serve"/>). Dispose or
/// <see cref="UnmountAsync"/> to end it; <see cref="Completion"/> ends when the connection is gone.
/// </summary>
public sealed class FuseMount : IAsyncDisposable
{
    private readonly IFuseDevice[] _devices;
    private KernelMount? _kernelMount;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;
    private Diagnostics.MountControlServer? _control;

    private readonly Task<ConnectionEnd> _ended;

    private FuseMount(ActorSystem system, IFuseDevice[] devices, string? mountpoint, IActorRef connection, Task<ConnectionReady> ready,
        Task<ConnectionEnd> ended)
    {
        _ended = ended;
        if (mountpoint is not null) FuseControlId = FuseMounter.ConnectionId(mountpoint);
        System = system;
        _devices = devices;
        Mountpoint = mountpoint;
        Connection = connection;
        Ready = ready;
        // Completion follows the connection actor's life, watched from outside the actor.
        system.ActorOf(Props.Create(() => new ConnectionWatcher(connection, this)));
    }

    public ActorSystem System { get; }
    /// <summary>The fusectl id of a real mount's connection (for abort), or null.</summary>
    public uint? FuseControlId { get; }
    /// <summary>Where it is mounted, or null when served on a device without a mount.</summary>
    public string? Mountpoint { get; }
    /// <summary>The connection actor (ask it <see cref="GetConnectionStats"/>).</summary>
    public IActorRef Connection { get; }
    /// <summary>Completes when the kernel's INIT was answered: the mount is usable.</summary>
    public Task<ConnectionReady> Ready { get; }
    /// <summary>Completes when the connection has ended (unmounted, aborted, or stopped).</summary>
    public Task Completion => _completion.Task;
    /// <summary>Why the connection ended, once <see cref="Completion"/> has completed (else null): unmounted, stopped,
    /// aborted or failed. After this mount's own <see cref="UnmountAsync(TimeSpan)"/> it is Unmounted or Stopped, or
    /// Aborted for a busy mount it had to abort.</summary>
    public ConnectionEnd? EndedBecause { get; private set; }

    /// <summary>The connection actor has stopped: says why (<see cref="EndedBecause"/>), then completes <see cref="Completion"/>.</summary>
    private void OnConnectionStopped()
    {
        var end = _ended.IsCompletedSuccessfully ? _ended.Result : null;
        // The kernel's own end of a connection (its request timeout, an abort before INIT) reads ENODEV, as an unmount
        // does; but an unmount has taken the mount away by then, and that end leaves it in place, dead (ENOTCONN).
        if (end is { Kind: ConnectionEndKind.Unmounted } && Mountpoint is not null && FuseControlId is { } id && StillMounted(id))
            end = new ConnectionEnd(ConnectionEndKind.Failed, "the kernel ended the connection and left its mount in place");
        EndedBecause = end ?? new ConnectionEnd(ConnectionEndKind.Failed, "the connection actor stopped without saying why");
        _completion.TrySetResult();
    }

    private bool StillMounted(uint id)
    {
        try { return FuseMounter.MountedConnectionId(Mountpoint!) == id; }
        catch (IOException) { return false; }
    }
    /// <summary>The io_uring transport when the mount uses one (its queues and counters), else null.</summary>
    public IoUringFuseTransport? IoUring { get; private set; }
    /// <summary>What <see cref="UnmountAsync(TimeSpan)"/> does with a busy mount (from <see cref="MountOptions.BusyUnmount"/>).</summary>
    public BusyUnmount BusyUnmount { get; private set; } = BusyUnmount.Detach;

    /// <summary>Mounts <paramref name="filesystem"/> at <paramref name="mountpoint"/> and waits until the kernel's INIT was answered.
    /// Mounts with mount(2) when the process has CAP_SYS_ADMIN, else (or for auto_unmount, or with
    /// <see cref="MountOptions.MountHelper"/> = Always) through fusermount3 (<see cref="FuseMounter.MountAny"/>); throws
    /// <see cref="FuseDeviceException"/> saying why when it cannot.</summary>
    public static async Task<FuseMount> MountAsync(ActorSystem system, Props filesystem, string mountpoint, MountOptions options,
        ConnectionSettings settings, string? name = null, CancellationToken cancellationToken = default)
    {
        // Before mount(2): the transport decides whether max_read is sized for spliced READ replies.
        var transport = IoUringFuseTransport.Resolve(settings.Transport, out var noUring);
        if (options is { ReadsFitSplice: true, MaxRead: 0 } && transport == FuseTransport.Device
            && SplicedFileReply.LargestSplicedRead(settings.MaxWrite) is var spliced and > 0)
        {
            system.Log.Debug("{Mountpoint}: max_read {MaxRead}: the largest READ reply a pipe here splices whole", mountpoint, spliced);
            options = options with { MaxRead = spliced };
        }
        var kernelMount = FuseMounter.MountAny(mountpoint, options);
        foreach (var note in kernelMount.Notes) system.Log.Warning("{Mountpoint}: {Note}", mountpoint, note);
        if (kernelMount.ThroughHelper)
            system.Log.Info("{Mountpoint} mounted through fusermount3{AutoUnmount}", mountpoint, kernelMount.AutoUnmount ? " (auto_unmount)" : "");
        var first = kernelMount.Device;
        var devices = new List<IFuseDevice> { first };
        IoUringFuseTransport? uring = null;
        FuseMount mount;
        try
        {
            if (transport == FuseTransport.IoUring && first is LinuxFuseDevice linuxFirst)
            {
                if (settings.IoUringIdlePriority && !IoUringFuseTransport.CanSetIdlePriority)
                {
                    system.Log.Warning("{Mountpoint}: io-uring-idle-priority is not supported on this architecture; the queue threads keep the normal policy", mountpoint);
                    settings = settings with { IoUringIdlePriority = false };
                }
                // /dev/fuse stays for INIT, FORGET, INTERRUPT and notifications; the requests come over one ring queue per CPU.
                uring = new IoUringFuseTransport(linuxFirst, settings.IoUringQueueDepth, settings.IoUringPinQueues, settings.IoUringIdlePriority);
                devices.Clear();
                devices.AddRange(uring.AllDevices);
                settings = settings with { OfferIoUring = true };
                if (settings.IoUringIdlePriority && !IoUringFuseTransport.ProcessLeadsItsSession)
                    system.Log.Warning("{Mountpoint}: io_uring queue threads at idle priority (SCHED_IDLE) while this process shares the " +
                        "scheduling group of the session it was started in: CPU-bound processes of that session will starve them. " +
                        "Run the daemon in a session of its own (as a service, or with setsid)", mountpoint);
            }
            else
            {
                if (settings.Transport == FuseTransport.Auto)
                    system.Log.Info("{Mountpoint}: FUSE over io_uring is not available ({Reason}); using /dev/fuse", mountpoint, noUring);
                bool auto = settings.Queues <= 0;
                int queues = auto ? ConnectionSettings.DefaultQueues : settings.Queues;
                for (int i = 1; i < queues; i++)
                {
                    try { devices.Add(first.Clone()); }
                    catch (FuseDeviceException e) when (auto)
                    {
                        system.Log.Warning("{Mountpoint}: serving with {Queues} device queue(s), not {Wanted}: {Reason}", mountpoint, devices.Count, queues, e.Message);
                        break;
                    }
                }
            }
            foreach (var d in devices)
                if (d is LinuxFuseDevice linux) linux.SpinBeforeBlocking = settings.SpinBeforeBlocking;
            mount = Start(system, filesystem, null, devices.ToArray(), mountpoint, settings, name);
            mount.IoUring = uring;
            mount.BusyUnmount = options.BusyUnmount;
            mount._kernelMount = kernelMount;
        }
        catch
        {
            kernelMount.Detach();
            foreach (var d in devices) d.Dispose();
            kernelMount.Dispose();
            throw;
        }
        ConnectionReady ready;
        try
        {
            ready = await mount.Ready.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
            if (mount.IoUring is { } ring && (ready.Flags & InitFlags.OverIoUring) == 0)
                system.Log.Warning("{Mountpoint}: FUSE over io_uring was not taken ({Reason}); serving over /dev/fuse", mountpoint, ring.DeclinedReason ?? "the kernel did not offer it");
        }
        catch
        {
            await mount.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        if (mount.FuseControlId is { } bdi)
            RaiseReadahead(system, mountpoint, bdi, settings.MaxReadahead, ReadaheadFor(settings.MaxReadahead, options.MaxRead, ready.MaxWrite));
        if (uring is not null && mount.FuseControlId is { } connectionId)
        {
            // A ring queue that failed ends the connection (FuseConnection.OnDeviceGone) while the kernel still routes
            // that CPU's requests to it: abort, so callers get ENOTCONN at once rather than wait until the mount is
            // disposed. Only then: after an unmount the connection id may already belong to another mount.
            _ = mount.Completion.ContinueWith(_ =>
            {
                if (uring.Failure is { } why && Volatile.Read(ref mount._disposed) == 0)
                {
                    system.Log.Error("{Mountpoint}: {Failure}; aborting the FUSE connection", mountpoint, why);
                    FuseMounter.Abort(connectionId);
                }
            }, TaskScheduler.Default);
        }
        if (settings.ControlSocket && mount.FuseControlId is { } id)
        {
            // The control socket (stats, debug on/off from another process) is a convenience: a mount without it still serves.
            try
            {
                var control = Diagnostics.MountControlServer.Start(id, await mount.GetMetricsAsync().ConfigureAwait(false), mount.SetDebug, system.Log);
                mount._control = control;
                // Unmounted from outside (umount, abort): the socket goes with the connection.
                _ = mount.Completion.ContinueWith(_ => control.DisposeAsync().AsTask(), TaskScheduler.Default).Unwrap();
            }
            catch (Exception e) { system.Log.Warning("{Mountpoint}: no control socket: {Error}", mountpoint, e.Message); }
        }
        return mount;
    }

    /// <summary>The most readahead a mount is given (the kernel sets no limit of its own): before INIT's cap was lifted
    /// here, any max_readahead passed harmlessly, and the kernel also reads this much around each page fault of a
    /// mapped file.</summary>
    internal const uint LargestReadahead = 16 << 20;

    /// <summary>
    /// The readahead to give a mount for <paramref name="wanted"/> (<see cref="ConnectionSettings.MaxReadahead"/>), up to
    /// <see cref="LargestReadahead"/>: the kernel cuts each readahead window into READs of at most max_read (when set,
    /// else max_write's pages), so a window above that is taken as a whole number of such READs. A 1 MiB window with
    /// max_read at 255 pages (memfs over /dev/fuse: what a pipe splices whole without CAP_SYS_RESOURCE) went out as a
    /// READ of 255 pages and one of a single page; at 1020 KiB it goes out whole.
    /// </summary>
    internal static long ReadaheadFor(uint wanted, uint maxRead, uint maxWrite)
    {
        wanted = Math.Min(wanted, LargestReadahead);
        long page = Environment.SystemPageSize;
        long largestRead = (maxRead > 0 ? Math.Min(maxRead, maxWrite) : maxWrite) / page * page;
        return largestRead > 0 && wanted >= largestRead ? wanted / largestRead * largestRead : wanted;
    }

    /// <summary>
    /// Gives the mount the readahead <paramref name="bytes"/> (<see cref="ReadaheadFor"/>) where INIT could not: the
    /// kernel offers 128 KiB there and takes no more (<see cref="MountReadahead"/>). Cold sequential reads then come in
    /// fewer, larger READs with more of them in flight (memfs, 256 MiB with dd here: 2.6-3.2 GB/s at 128 KiB, 2.9-3.9 at
    /// 1 MiB, 4.2-4.4 at 4 MiB). A mount that cannot (no root) keeps the kernel's and says so; it serves either way.
    /// </summary>
    private static void RaiseReadahead(ActorSystem system, string mountpoint, uint connectionId, uint wanted, long bytes)
    {
        var e = MountReadahead.Raise(connectionId, bytes, out long? before);
        if (e == Errno.Ok)
        {
            if (before is { } was && was < bytes / 1024 * 1024)
                system.Log.Info("{Mountpoint}: readahead {Readahead} KiB (the kernel offered {Offered} KiB; max-readahead {Wanted} KiB)",
                    mountpoint, bytes / 1024, was / 1024, wanted / 1024);
            return;
        }
        system.Log.Info("{Mountpoint}: readahead stays at the kernel's {Offered} KiB, not {Readahead} KiB: {Path}: {Error}{Hint}", mountpoint,
            before is { } kernel ? (kernel / 1024).ToString(global::System.Globalization.CultureInfo.InvariantCulture) : "?", bytes / 1024,
            MountReadahead.SysfsPath(connectionId), e,
            e == Errno.EROFS ? " (/sys is mounted read-only here)" : e == Errno.EACCES && Tmds.Linux.LibC.geteuid() != 0 ? " (setting it needs root)" : "");
    }

    /// <summary>Serves <paramref name="filesystem"/> on an already attached device (e.g. a VirtualDevice). Await <see cref="Ready"/>.</summary>
    public static FuseMount Serve(ActorSystem system, Props filesystem, IFuseDevice device, ConnectionSettings settings, string? name = null) =>
        Start(system, filesystem, null, [device], null, settings, name);

    /// <summary>Serves an existing filesystem actor (not a child of the connection) on a device.</summary>
    public static FuseMount Serve(ActorSystem system, IActorRef filesystem, IFuseDevice device, ConnectionSettings settings, string? name = null) =>
        Start(system, null, filesystem, [device], null, settings, name);

    private static FuseMount Start(ActorSystem system, Props? props, IActorRef? fsRef, IFuseDevice[] devices, string? mountpoint, ConnectionSettings settings, string? name)
    {
        var ready = new TaskCompletionSource<ConnectionReady>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ended = new TaskCompletionSource<ConnectionEnd>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (settings.MountName is null && (mountpoint ?? name) is { } tag) settings = settings with { MountName = tag };
        var connectionProps = props is not null
            ? FuseConnection.Props(devices, props, settings, ready, ended)
            : FuseConnection.Props(devices, fsRef!, settings, ready, ended);
        if (settings.InlineDispatch)
        {
            InlineDispatcher.Register(system);
            connectionProps = connectionProps.WithDispatcher(InlineDispatcher.DispatcherId);
        }
        var connection = name is null ? system.ActorOf(connectionProps) : system.ActorOf(connectionProps, name);
        return new FuseMount(system, devices, mountpoint, connection, ready.Task, ended.Task);
    }

    /// <summary>READ replies its /dev/fuse queues spliced from a file (<see cref="SplicedFileReply"/>).</summary>
    public long SplicedReplies
    {
        get
        {
            long n = 0;
            foreach (var d in _devices)
                if (d is LinuxFuseDevice linux) n += linux.SplicedReplies;
            return n;
        }
    }

    /// <summary>Turns debug logging (each request with its arguments and caller, each reply) on or off while mounted,
    /// as go-fuse's SetDebug does. Also reachable from another process: <c>fuseactors debug MOUNTPOINT on|off</c>.</summary>
    public void SetDebug(bool on) => Connection.Tell(new SetDebugLogging(on));

    /// <summary>The connection's live metrics (counts, latency histograms, in flight, credit): what the control socket and
    /// <see cref="Diagnostics.MountStats"/> read.</summary>
    public Task<Diagnostics.ConnectionMetrics> GetMetricsAsync() =>
        Connection.Ask<Diagnostics.ConnectionMetrics>(GetConnectionMetrics.Instance, TimeSpan.FromSeconds(10));

    /// <summary>
    /// Unmounts. A mount nobody uses goes at once. A busy one, by <see cref="BusyUnmount"/>:
    /// <see cref="FuseActors.Engine.Device.BusyUnmount.Detach"/> detaches it (it leaves the namespace at once) and gives its users
    /// <paramref name="grace"/> to leave, after which the connection is aborted (fusectl): callers still inside get
    /// ECONNABORTED/ENOTCONN, the reader sees the end, nothing hangs and no mount is left.
    /// <see cref="FuseActors.Engine.Device.BusyUnmount.Keep"/> aborts the connection at once but leaves the mount in place, so every access
    /// (by path or through an open file) fails with ENOTCONN/ECONNABORTED instead of reaching the host's mountpoint
    /// directory; the mount is removed as soon as nobody holds it, or detached when the grace ends.
    /// </summary>
    public Task UnmountAsync(TimeSpan grace) => UnmountAsync(grace, BusyUnmount);

    /// <summary>Unmounts with <paramref name="busy"/> deciding what happens to a busy mount (see <see cref="UnmountAsync(TimeSpan)"/>).</summary>
    public async Task UnmountAsync(TimeSpan grace, BusyUnmount busy)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await Completion.ConfigureAwait(false);
            return;
        }
        if (_control is { } control) await control.DisposeAsync().ConfigureAwait(false);
        if (Mountpoint is not null && OwnsMountpoint())
        {
            var err = TryUnmountKernel();
            if (err == Errno.EBUSY && busy == BusyUnmount.Keep && FuseControlId is { } id)
            {
                System.Log.Info("{Mountpoint} is busy; refusing its requests (ENOTCONN) and keeping it in place for up to {Seconds} s", Mountpoint, grace.TotalSeconds);
                var abort = FuseMounter.Abort(id);
                if (abort == Errno.Ok)
                {
                    err = await UnmountWhenFreeAsync(grace).ConfigureAwait(false);
                    await EndConnectionAsync(aborted: true).ConfigureAwait(false);
                    foreach (var d in _devices) d.Dispose();
                    _kernelMount?.Dispose();
                    if (err is not (Errno.Ok or Errno.EINVAL or Errno.ENOENT))
                        System.Log.Warning("umount2({Mountpoint}) failed: {Errno}", Mountpoint, err);
                    return;
                }
                System.Log.Warning("aborting FUSE connection {ConnectionId} failed: {Errno}; detaching {Mountpoint} instead", id, abort, Mountpoint);
            }
            if (err == Errno.EBUSY)
            {
                System.Log.Info("{Mountpoint} is busy; detaching it and giving its users {Seconds} s", Mountpoint, grace.TotalSeconds);
                err = DetachKernel();
            }
            if (err is not (Errno.Ok or Errno.EINVAL or Errno.ENOENT))
                System.Log.Warning("umount2({Mountpoint}) failed: {Errno}", Mountpoint, err);
        }
        else if (Mountpoint is null)
        {
            // A device without a mount (VirtualDevice) ends when closed: its reader sees ENODEV.
            foreach (var d in _devices) d.Dispose();
        }
        var finished = await Task.WhenAny(Completion, Task.Delay(grace)).ConfigureAwait(false);
        if (finished != Completion)
        {
            System.Log.Warning("connection still in use {Seconds} s after unmount; aborting it", grace.TotalSeconds);
            var aborted = false;
            if (FuseControlId is { } id)
            {
                var err = FuseMounter.Abort(id);
                if (err != Errno.Ok) System.Log.Warning("aborting FUSE connection {ConnectionId} failed: {Errno}", id, err);
                aborted = err == Errno.Ok;
            }
            await EndConnectionAsync(aborted).ConfigureAwait(false);
        }
        foreach (var d in _devices) d.Dispose();
        _kernelMount?.Dispose();
    }

    /// <summary>Whether the mount at <see cref="Mountpoint"/> is this one's to unmount. Where mountinfo lists a FUSE mount
    /// there, only if it is this connection's: one that ended on its own (aborted through fusectl, a failed ring queue)
    /// left its mount behind, which goes too; and after an outside lazy unmount another daemon may have mounted on the
    /// same path, which must stay. Where it lists none (unmounted from outside, or a path through a symlink), as
    /// before: while the connection lives.</summary>
    private bool OwnsMountpoint()
    {
        uint? listed = null;
        try { listed = FuseMounter.MountedConnectionId(Mountpoint!); }
        catch (IOException) { }
        if (listed is { } id && FuseControlId is { } ours) return id == ours;
        return !Completion.IsCompleted;
    }

    private Errno TryUnmountKernel() => _kernelMount?.TryUnmount() ?? FuseMounter.TryUnmount(Mountpoint!);
    private Errno DetachKernel() => _kernelMount?.Detach() ?? FuseMounter.Unmount(Mountpoint!);

    /// <summary>Tells the connection to stop and waits a little for it; stops the actor if it does not. After a fusectl
    /// abort the reader sees the end and the connection stops by itself within milliseconds: it gets that chance first,
    /// so no StopConnection reaches a connection that is already gone (a dead letter at every busy unmount).</summary>
    private async Task EndConnectionAsync(bool aborted = false)
    {
        if (aborted) await Task.WhenAny(Completion, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
        if (Completion.IsCompleted) return;
        Connection.Tell(StopConnection.Instance);
        await Task.WhenAny(Completion, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        if (!Completion.IsCompleted) System.Stop(Connection);
    }

    /// <summary>The keep mode's end: the aborted mount stays in the namespace (answering ENOTCONN) until a plain umount
    /// succeeds because nobody holds it any more, or the grace ends and it is detached, so no dead mount is left.</summary>
    private async Task<Errno> UnmountWhenFreeAsync(TimeSpan grace)
    {
        var deadline = DateTime.UtcNow + grace;
        // Tried often at first (a holder usually leaves at once), then less: through fusermount3 each try is a process.
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var err = TryUnmountKernel();
            if (err != Errno.EBUSY) return err;
            if (DateTime.UtcNow >= deadline) return DetachKernel();
            await Task.Delay(pause).ConfigureAwait(false);
            pause = TimeSpan.FromMilliseconds(Math.Min(pause.TotalMilliseconds * 2, 500));
        }
    }

    public ValueTask DisposeAsync() => new(UnmountAsync(TimeSpan.FromSeconds(5)));

    private sealed class ConnectionWatcher : ReceiveActor
    {
        public ConnectionWatcher(IActorRef connection, FuseMount mount)
        {
            Context.Watch(connection);
            Receive<Terminated>(_ =>
            {
                mount.OnConnectionStopped();
                Context.Stop(Self);
            });
        }
    }
}
