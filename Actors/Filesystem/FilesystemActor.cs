using Akka.Actor;
using Akka.Event;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// Base class for a filesystem written as an actor: override one handler per operation you support; every
/// other operation answers ENOSYS (which makes the kernel stop asking for most of them).
///
/// <para><b>Answering.</b> A handler answers through the request's typed <c>Reply(...)</c> or
/// <see cref="FsRequest.Fail"/>. To answer later (a backend actor, I/O), either call <see cref="FsRequest.Defer"/>
/// and answer from any thread or from a later message, or hand the work to <see cref="HandleAsync"/>, whose
/// <c>await</c>s resume inside this actor. A handler that returns without answering and without deferring, a
/// handler or asynchronous body that throws, and a deferred request still held when this actor stops or restarts
/// are all answered EIO at once (and logged), never left to the engine's request timeout.</para>
///
/// <para><b>Interrupts.</b> When a caller is interrupted the engine sends <see cref="RequestInterrupted"/>; this
/// class cancels the request's <see cref="FsRequest.Cancellation"/> (here, in the actor) and calls
/// <see cref="Interrupted"/>. Answer EINTR or the result, as you like; if the filesystem answers neither within the
/// interrupt grace the engine answers EINTR for it.</para>
///
/// <para><b>O_TRUNC.</b> Unless <see cref="Capabilities"/> includes <see cref="FilesystemCapabilities.HandlesOpenTruncate"/>,
/// the kernel truncates through <see cref="SetAttr"/> (size 0), so an <see cref="Open"/> may ignore O_TRUNC. With it,
/// the open truncates and removes the set-id bits the VFS would (see the capability).</para>
///
/// A handler that throws answers EIO and the actor keeps its state and goes on serving: one bad request must not
/// take the filesystem down.
/// </summary>
public abstract class FilesystemActor : UntypedActor
{
    private readonly ActorSynchronizationContext _syncContext;
    // Requests answered later; replied ones are dropped lazily (they may be answered from any thread).
    private readonly List<FsRequest> _deferred = new();
    private int _deferredPurgeAt = 64;
    // The connection's notifier, from the INIT question (read from any thread by the Notify methods).
    private volatile KernelNotifier? _notifier;

    protected FilesystemActor() => _syncContext = new ActorSynchronizationContext(Self);

    protected ILoggingAdapter Log { get; } = Context.GetLogger();

    /// <summary>What this filesystem handles (answered to the engine when the kernel's INIT arrives).</summary>
    protected virtual FilesystemCapabilities Capabilities => FilesystemCapabilities.None;

    protected sealed override void OnReceive(object message)
    {
        switch (message)
        {
            case FsRequest request:
                OnRequest(request);
                break;
            case ActorSynchronizationContext.RunContinuation c:
                _syncContext.Run(static c => c.Callback(c.State), c);
                break;
            case RequestInterrupted i:
                i.CancelToken();
                if (!i.Request.IsReplied) Interrupted(i.Request);
                break;
            default:
                OnOtherMessage(message);
                break;
        }
    }

    private void OnRequest(FsRequest request)
    {
        try
        {
            Dispatch(request);
        }
        catch (Exception e)
        {
            Log.Error(e, "filesystem handler for {Request} threw; answering EIO", request);
            request.Fail(Errno.EIO);
            return;
        }
        if (request is ForgetRequest or DestroyRequest) return;
        if (request.IsReplied)
        {
            // Answered by the engine meanwhile (a timeout while the handler ran): a deferred request is still the
            // handler's to end, and one it returned without answering ends here. Answered by the handler: done.
            if (!request.IsDeferred) request.ReleaseIfEngineAnswered();
            else if (!request.IsSettled) Track(request);
            return;
        }
        if (request.IsDeferred)
        {
            Track(request);
            return;
        }
        Log.Error("filesystem handler for {Request} returned without answering; answering EIO (call Defer() on a request to answer it later)", request);
        request.Fail(Errno.EIO);
    }

    private void Track(FsRequest request)
    {
        _deferred.Add(request);
        if (_deferred.Count < _deferredPurgeAt) return;
        _deferred.RemoveAll(static r => r.IsSettled); // one the engine answered stays: FailDeferred may still have to end it
        _deferredPurgeAt = Math.Max(64, _deferred.Count * 2);
    }

    /// <summary>
    /// Answers <paramref name="request"/> with asynchronous code: <paramref name="handler"/> gets the request's
    /// cancellation (cancelled when the caller is interrupted) and answers with the request's <c>Reply</c> or
    /// <c>Fail</c>. Its <c>await</c>s resume as messages to this actor (do not use <c>ConfigureAwait(false)</c> if the
    /// code after it touches the actor's state), so other requests are served while it waits.
    /// When the task ends without an answer: a <see cref="FuseErrnoException"/> answers its errno, a
    /// cancellation after an interrupt answers EINTR, anything else (another exception, or no answer at all)
    /// answers EIO, logged.
    /// </summary>
    protected void HandleAsync(FsRequest request, Func<CancellationToken, Task> handler)
    {
        request.Defer();
        Task task;
        var previous = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(_syncContext);
        try
        {
            task = handler(request.Cancellation);
        }
        catch (Exception e)
        {
            task = Task.FromException(e);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
        }
        if (task.IsCompleted) Finish(task, request, Log);
        else task.ContinueWith(static (t, s) =>
        {
            var (r, log) = ((FsRequest, ILoggingAdapter))s!;
            Finish(t, r, log);
        }, (request, Log), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static void Finish(Task task, FsRequest request, ILoggingAdapter log)
    {
        if (request.IsReplied)
        {
            request.ReleaseIfEngineAnswered(); // the engine answered it and the task ended without a reply
            return;
        }
        if (task.IsCanceled || task.Exception?.InnerException is OperationCanceledException)
        {
            if (request.IsInterrupted) { request.Fail(Errno.EINTR); return; }
            log.Error("asynchronous handler for {Request} was cancelled without an interrupt; answering EIO", request);
            request.Fail(Errno.EIO);
            return;
        }
        if (task.Exception?.InnerException is { } e)
        {
            if (e is FuseErrnoException errno && errno.Errno != Errno.Ok)
            {
                request.Fail(errno.Errno);
                return;
            }
            log.Error(e, "asynchronous handler for {Request} threw; answering EIO", request);
            request.Fail(Errno.EIO);
            return;
        }
        log.Error("asynchronous handler for {Request} finished without answering; answering EIO", request);
        request.Fail(Errno.EIO);
    }

    /// <summary>Answers EIO for every request this actor deferred and still holds: it will never answer them.</summary>
    private void FailDeferred(string why)
    {
        int failed = 0;
        foreach (var r in _deferred)
        {
            if (r.IsReplied)
            {
                // One the engine answered goes back as a late reply; whatever works on it may still use its buffers.
                if (!r.IsSettled) r.Orphan();
                r.ReleaseIfEngineAnswered();
                continue;
            }
            r.Orphan();
            if (r.Fail(Errno.EIO)) failed++;
        }
        _deferred.Clear();
        if (failed > 0) Log.Warning("filesystem actor {Reason} with {Count} request(s) unanswered; answered EIO", why, failed);
    }

    public override void AroundPreRestart(Exception cause, object? message)
    {
        FailDeferred("restarting");
        // The kernel sends INIT once per connection, so the instance that replaces this one would never be given the
        // notifier again: hand it over through the actor's reference, which a restart keeps.
        if (_notifier is { } notifier) NotifiersAcrossRestart.AddOrUpdate(Self, notifier);
        base.AroundPreRestart(cause, message);
    }

    public override void AroundPostRestart(Exception cause, object? message)
    {
        if (NotifiersAcrossRestart.TryGetValue(Self, out var notifier))
        {
            NotifiersAcrossRestart.Remove(Self);
            _notifier ??= notifier;
        }
        base.AroundPostRestart(cause, message);
    }

    // Only between PreRestart of the old instance and PostRestart of the new one (same thread, same cell); weak, so an
    // actor that stops during its restart leaves nothing behind.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IActorRef, KernelNotifier> NotifiersAcrossRestart = new();

    public override void AroundPostStop()
    {
        FailDeferred("stopped");
        base.AroundPostStop();
    }

    /// <summary>Messages that are not filesystem requests (your own protocol). Unhandled by default.</summary>
    protected virtual void OnOtherMessage(object message) => Unhandled(message);

    /// <summary>The caller of <paramref name="request"/> was interrupted (the request is still unanswered, and its
    /// <see cref="FsRequest.Cancellation"/> has just been cancelled). Default: nothing.</summary>
    protected virtual void Interrupted(FsRequest request) { }

    private void Dispatch(FsRequest r)
    {
        switch (r)
        {
            case LookupRequest q: Lookup(q); break;
            case ForgetRequest q: Forget(q); break;
            case GetAttrRequest q: GetAttr(q); break;
            case SetAttrRequest q: SetAttr(q); break;
            case ReadLinkRequest q: ReadLink(q); break;
            case SymlinkRequest q: Symlink(q); break;
            case MkNodRequest q: MkNod(q); break;
            case MkDirRequest q: MkDir(q); break;
            case UnlinkRequest q: Unlink(q); break;
            case RmDirRequest q: RmDir(q); break;
            case RenameRequest q: Rename(q); break;
            case LinkRequest q: Link(q); break;
            case OpenRequest q: if (q.IsDirectory) OpenDir(q); else Open(q); break;
            case ReadRequest q: Read(q); break;
            case WriteRequest q: Write(q); break;
            case StatFsRequest q: StatFs(q); break;
            case ReleaseRequest q: if (q.IsDirectory) ReleaseDir(q); else Release(q); break;
            case FsyncRequest q: if (q.IsDirectory) FsyncDir(q); else Fsync(q); break;
            case SetXAttrRequest q: SetXAttr(q); break;
            case GetXAttrRequest q: GetXAttr(q); break;
            case ListXAttrRequest q: ListXAttr(q); break;
            case RemoveXAttrRequest q: RemoveXAttr(q); break;
            case FlushRequest q: Flush(q); break;
            case ReadDirRequest q: ReadDir(q); break;
            case AccessRequest q: Access(q); break;
            case CreateRequest q: if (q.IsTmpFile) TmpFile(q); else Create(q); break;
            case FallocateRequest q: Fallocate(q); break;
            case LseekRequest q: Lseek(q); break;
            case CopyFileRangeRequest q: CopyFileRange(q); break;
            case DestroyRequest q: Destroy(q); break;
            case GetLockRequest q: GetLock(q); break;
            case SetLockRequest q: SetLock(q); break;
            case FilesystemInitRequest q:
                if (q.Notifier is not null) _notifier = q.Notifier;
                Init(q);
                break;
            default: r.Fail(Errno.ENOSYS); break;
        }
    }

    // ------------------------------------------------------------------ kernel notifications

    /// <summary>The connection's notifier, once the kernel's INIT reached this actor (null before). A restarted actor
    /// keeps it (the kernel sends no second INIT).</summary>
    protected KernelNotifier? Notifier => _notifier;

    /// <summary>FUSE_NOTIFY_INVAL_INODE: the kernel drops <paramref name="nodeId"/>'s cached attributes and, unless
    /// <paramref name="offset"/> is negative, its cached pages from <paramref name="offset"/> for <paramref name="length"/>
    /// bytes (0: to the end of the file). offset -1: attributes only; offset 0 and length 0 (the default): attributes
    /// and every cached page. Queued, written by the connection's notification writer (never on this thread); returns at
    /// once, false when the mount has no connection that accepts notifications (before INIT, after it ended).
    /// ENOENT from the kernel (nothing cached) is normal and ignored.</summary>
    protected bool NotifyInvalidateInode(ulong nodeId, long offset = 0, long length = 0) =>
        _notifier?.InvalidateInode(nodeId, offset, length) ?? false;

    /// <summary>FUSE_NOTIFY_INVAL_ENTRY (flags 0): the kernel forgets <paramref name="name"/> in directory
    /// <paramref name="parent"/> (a positive or negative entry), so the next path walk looks it up again. Queued; false
    /// when no connection accepts notifications.</summary>
    protected bool NotifyInvalidateEntry(ulong parent, FileName name) =>
        _notifier?.InvalidateEntry(parent, name) ?? false;

    /// <summary>FUSE_NOTIFY_DELETE: <paramref name="name"/> in <paramref name="parent"/>, which named
    /// <paramref name="child"/>, is gone (removed or renamed away by someone else): the kernel drops the entry and treats
    /// the node as unlinked there. Queued; false when no connection accepts notifications.</summary>
    protected bool NotifyDelete(ulong parent, ulong child, FileName name) =>
        _notifier?.Delete(parent, child, name) ?? false;

    /// <summary>The kernel's INIT arrived: answer what this filesystem handles. Default: <see cref="Capabilities"/>.</summary>
    protected virtual void Init(FilesystemInitRequest r) => r.Reply(Capabilities);
    protected virtual void Lookup(LookupRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>The kernel dropped references to nodes. Never answered.</summary>
    protected virtual void Forget(ForgetRequest r) { }
    protected virtual void GetAttr(GetAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void SetAttr(SetAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void ReadLink(ReadLinkRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Symlink(SymlinkRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void MkNod(MkNodRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void MkDir(MkDirRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Unlink(UnlinkRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void RmDir(RmDirRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Rename(RenameRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Link(LinkRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>Default: no per-open state (handle 0).</summary>
    protected virtual void Open(OpenRequest r) => r.Reply(0);
    protected virtual void OpenDir(OpenRequest r) => r.Reply(0);
    protected virtual void Read(ReadRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Write(WriteRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void StatFs(StatFsRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Release(ReleaseRequest r) => r.Reply();
    protected virtual void ReleaseDir(ReleaseRequest r) => r.Reply();
    // ENOSYS for FLUSH, FSYNC and FSYNCDIR is the kernel's "nothing to do": it answers the caller success and stops
    // sending them, which saves a round trip on every close(2) of a filesystem that keeps no per-open state.
    protected virtual void Fsync(FsyncRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void FsyncDir(FsyncRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void SetXAttr(SetXAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void GetXAttr(GetXAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void ListXAttr(ListXAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void RemoveXAttr(RemoveXAttrRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Flush(FlushRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void ReadDir(ReadDirRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Access(AccessRequest r) => r.Reply();
    protected virtual void Create(CreateRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>open(O_TMPFILE): an unnamed regular file in the directory, answered like CREATE (entry and handle)
    /// with a link count of 0; a LINK may name it later. ENOSYS (the default) makes the kernel answer EOPNOTSUPP.</summary>
    protected virtual void TmpFile(CreateRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Fallocate(FallocateRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Lseek(LseekRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void CopyFileRange(CopyFileRangeRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>fcntl F_GETLK: only sent when <see cref="Capabilities"/> includes <see cref="FilesystemCapabilities.PosixLocks"/>.</summary>
    protected virtual void GetLock(GetLockRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>fcntl F_SETLK/F_SETLKW and flock(2): only sent when <see cref="Capabilities"/> includes
    /// <see cref="FilesystemCapabilities.PosixLocks"/> (or <see cref="FilesystemCapabilities.FlockLocks"/> for flock).</summary>
    protected virtual void SetLock(SetLockRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>The mount is going away; free what you hold. Answering is optional.</summary>
    protected virtual void Destroy(DestroyRequest r) => r.Reply();
}
