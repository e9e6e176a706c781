using FuseActors.Actors.Filesystem;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// Wraps what <see cref="RequestParser"/> reads into the typed <see cref="FsRequest"/> a filesystem actor receives:
/// one object per request, holding the header and the argument record. A struct, so the parser is specialised
/// for it and every call is direct.
/// </summary>
internal struct RequestFactory : IRequestFactory<FsRequest>
{
    /// <summary>Parses one request read into <paramref name="buffer"/>. When the result is a WRITE it keeps
    /// <paramref name="buffer"/> (<paramref name="tookBuffer"/> = true): the caller must read into a new one.</summary>
    public static FsRequest Parse(byte[] buffer, int length, NegotiatedProtocol protocol, out bool tookBuffer) =>
        Parse(buffer, 0, length, protocol, out tookBuffer);

    /// <summary>As above, for a request read at <paramref name="start"/> in <paramref name="buffer"/>.</summary>
    public static FsRequest Parse(byte[] buffer, int start, int length, NegotiatedProtocol protocol, out bool tookBuffer)
    {
        var f = new RequestFactory();
        return RequestParser.Parse<RequestFactory, FsRequest>(ref f, buffer, start, length, protocol, out tookBuffer);
    }

    public FsRequest Lookup(in FuseInHeader h, in LookupArgs a) => new LookupRequest { Header = h, Args = a };
    public FsRequest Forget(in FuseInHeader h, in ForgetArgs a) => new ForgetRequest { Header = h, Args = a };
    public FsRequest GetAttr(in FuseInHeader h, in GetAttrArgs a) => new GetAttrRequest { Header = h, Args = a };
    public FsRequest SetAttr(in FuseInHeader h, in SetAttrArgs a) => new SetAttrRequest { Header = h, Args = a };
    public FsRequest ReadLink(in FuseInHeader h) => new ReadLinkRequest { Header = h };
    public FsRequest Symlink(in FuseInHeader h, in SymlinkArgs a) => new SymlinkRequest { Header = h, Args = a };
    public FsRequest MkNod(in FuseInHeader h, in MkNodArgs a) => new MkNodRequest { Header = h, Args = a };
    public FsRequest MkDir(in FuseInHeader h, in MkDirArgs a) => new MkDirRequest { Header = h, Args = a };
    public FsRequest Unlink(in FuseInHeader h, in UnlinkArgs a) => new UnlinkRequest { Header = h, Args = a };
    public FsRequest RmDir(in FuseInHeader h, in RmDirArgs a) => new RmDirRequest { Header = h, Args = a };
    public FsRequest Rename(in FuseInHeader h, in RenameArgs a) => new RenameRequest { Header = h, Args = a };
    public FsRequest Link(in FuseInHeader h, in LinkArgs a) => new LinkRequest { Header = h, Args = a };
    public FsRequest Open(in FuseInHeader h, in OpenArgs a) => new OpenRequest { Header = h, Args = a };
    public FsRequest Read(in FuseInHeader h, in ReadArgs a) => new ReadRequest { Header = h, Args = a };
    public FsRequest ReadDir(in FuseInHeader h, in ReadDirArgs a) => new ReadDirRequest { Header = h, Args = a };

    public FsRequest Write(in FuseInHeader h, in WriteArgs a)
    {
        // The data points into the read buffer: the request owns that buffer until it is answered.
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(a.Data, out var segment);
        return new WriteRequest { Header = h, Args = a, Buffer = segment.Array };
    }

    public FsRequest StatFs(in FuseInHeader h) => new StatFsRequest { Header = h };
    public FsRequest Release(in FuseInHeader h, in ReleaseArgs a) => new ReleaseRequest { Header = h, Args = a };
    public FsRequest Fsync(in FuseInHeader h, in FsyncArgs a) => new FsyncRequest { Header = h, Args = a };
    public FsRequest SetXAttr(in FuseInHeader h, in SetXAttrArgs a) => new SetXAttrRequest { Header = h, Args = a };
    public FsRequest GetXAttr(in FuseInHeader h, in GetXAttrArgs a) => new GetXAttrRequest { Header = h, Args = a };
    public FsRequest ListXAttr(in FuseInHeader h, in ListXAttrArgs a) => new ListXAttrRequest { Header = h, Args = a };
    public FsRequest RemoveXAttr(in FuseInHeader h, in RemoveXAttrArgs a) => new RemoveXAttrRequest { Header = h, Args = a };
    public FsRequest Flush(in FuseInHeader h, in FlushArgs a) => new FlushRequest { Header = h, Args = a };
    public FsRequest Init(in FuseInHeader h, in InitArgs a) => new InitRequest { Header = h, Args = a };
    public FsRequest Access(in FuseInHeader h, in AccessArgs a) => new AccessRequest { Header = h, Args = a };
    public FsRequest Create(in FuseInHeader h, in CreateArgs a) => new CreateRequest { Header = h, Args = a };
    public FsRequest Interrupt(in FuseInHeader h, in InterruptArgs a) => new InterruptRequest { Header = h, Args = a };
    public FsRequest Destroy(in FuseInHeader h) => new DestroyRequest { Header = h };
    public FsRequest Fallocate(in FuseInHeader h, in FallocateArgs a) => new FallocateRequest { Header = h, Args = a };
    public FsRequest Lseek(in FuseInHeader h, in LseekArgs a) => new LseekRequest { Header = h, Args = a };
    public FsRequest CopyFileRange(in FuseInHeader h, in CopyFileRangeArgs a) => new CopyFileRangeRequest { Header = h, Args = a };
    public FsRequest GetLock(in FuseInHeader h, in LockArgs a) => new GetLockRequest { Header = h, Args = a };
    public FsRequest SetLock(in FuseInHeader h, in LockArgs a) => new SetLockRequest { Header = h, Args = a };
    public FsRequest NotifyReply(in FuseInHeader h, in NotifyReplyArgs a) => new NotifyReplyRequest { Header = h, Args = a };
    public FsRequest Malformed(in FuseInHeader h, string reason) => new MalformedRequest { Header = h, Reason = reason };
    public FsRequest Unsupported(in FuseInHeader h) => new UnsupportedRequest { Header = h };
}
