using Akka.Actor;
using Akka.Event;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// Base class for a filesystem written as an actor: override one handler per operation you support; every
/// other operation answers ENOSYS (which makes the kernel stop asking for most of them). A handler answers
/// through the request's typed <c>Reply(...)</c> or <see cref="FsRequest.Fail"/>, now or later (from any thread).
/// A handler that throws answers EIO and the actor keeps its state and goes on serving: one bad request must not
/// take the filesystem down.
/// </summary>
public abstract class FilesystemActor : UntypedActor
{
    protected ILoggingAdapter Log { get; } = Context.GetLogger();

    protected sealed override void OnReceive(object message)
    {
        if (message is not FsRequest request)
        {
            OnOtherMessage(message);
            return;
        }
        try
        {
            Dispatch(request);
        }
        catch (Exception e)
        {
            Log.Error(e, "filesystem handler for {0} threw; answering EIO", request);
            request.Fail(Errno.EIO);
        }
    }

    /// <summary>Messages that are not filesystem requests (your own protocol). Unhandled by default.</summary>
    protected virtual void OnOtherMessage(object message) => Unhandled(message);

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
            case CreateRequest q: Create(q); break;
            case FallocateRequest q: Fallocate(q); break;
            case LseekRequest q: Lseek(q); break;
            case CopyFileRangeRequest q: CopyFileRange(q); break;
            case DestroyRequest q: Destroy(q); break;
            default: r.Fail(Errno.ENOSYS); break;
        }
    }

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
    protected virtual void Fallocate(FallocateRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void Lseek(LseekRequest r) => r.Fail(Errno.ENOSYS);
    protected virtual void CopyFileRange(CopyFileRangeRequest r) => r.Fail(Errno.ENOSYS);
    /// <summary>The mount is going away; free what you hold. Answering is optional.</summary>
    protected virtual void Destroy(DestroyRequest r) => r.Reply();
}
