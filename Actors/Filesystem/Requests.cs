using System.Buffers;
using System.Text;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

// The typed requests a filesystem actor receives, one per operation, each with the reply methods of its shape.

/// <summary>Base for requests answered with an <see cref="Entry"/> (LOOKUP, MKDIR, MKNOD, SYMLINK, LINK).</summary>
public abstract class EntryRequest : FsRequest
{
    private Entry _entry;
    private bool _negative;

    /// <summary>Answers with a node; the kernel adds 1 to its lookup count.</summary>
    public bool Reply(in Entry entry)
    {
        _entry = entry;
        return Complete();
    }

    internal ref readonly Entry ReplyEntry => ref _entry;
    internal bool IsNegative => _negative;

    /// <summary>LOOKUP only: "no such name", cached by the kernel for <paramref name="ttl"/> (zero means ENOENT, not cached).</summary>
    protected bool ReplyNegativeEntry(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero) return Fail(Errno.ENOENT);
        _negative = true;
        _entry = new Entry { NodeId = 0, EntryTimeout = ttl, AttrTimeout = TimeSpan.Zero };
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        ReplyEncoder.Entry(scratch, _entry.NodeId, _entry.Generation, _entry.Attr, _entry.EntryTimeout, _entry.AttrTimeout, p);

    internal override string? ValidateReply()
    {
        if (_negative) return null;
        if (_entry.NodeId == 0) return "entry reply with node id 0";
        if (_entry.NodeId == FuseConstants.RootId) return "entry reply hands out the root node id for a child";
        return AttrValidator.Check(in _entry.Attr);
    }
}

public sealed class LookupRequest : EntryRequest
{
    internal LookupArgs Args;
    public override Opcode Opcode => Opcode.Lookup;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    /// <summary>Caches "no such entry" in the kernel for <paramref name="ttl"/>.</summary>
    public bool ReplyNegative(TimeSpan ttl) => ReplyNegativeEntry(ttl);
    public override string ToString() => $"{base.ToString()} name={Name}";
}

public sealed class MkNodRequest : EntryRequest
{
    internal MkNodArgs Args;
    public override Opcode Opcode => Opcode.MkNod;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    /// <summary>Includes the S_IF type bits; already masked with the umask by the kernel.</summary>
    public uint Mode { get => Args.Mode; internal set => Args = Args with { Mode = value }; }
    public uint Rdev { get => Args.Rdev; internal set => Args = Args with { Rdev = value }; }
    public uint Umask { get => Args.Umask; internal set => Args = Args with { Umask = value }; }
}

public sealed class MkDirRequest : EntryRequest
{
    internal MkDirArgs Args;
    public override Opcode Opcode => Opcode.MkDir;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    /// <summary>Permission bits only (no S_IFDIR), already masked with the umask.</summary>
    public uint Mode { get => Args.Mode; internal set => Args = Args with { Mode = value }; }
    public uint Umask { get => Args.Umask; internal set => Args = Args with { Umask = value }; }
}

public sealed class SymlinkRequest : EntryRequest
{
    internal SymlinkArgs Args;
    public override Opcode Opcode => Opcode.Symlink;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    /// <summary>The link's target, its exact bytes (a Linux target is bytes and may name a file that is not UTF-8).</summary>
    public byte[] Target { get => Args.Target ?? []; internal set => Args = Args with { Target = value }; }
    /// <summary>The target decoded as UTF-8, or null when it is not valid UTF-8 (never a lossy decoding).</summary>
    public string? TargetUtf8 => Utf8OrNull(Target);
}

public sealed class LinkRequest : EntryRequest
{
    internal LinkArgs Args;
    public override Opcode Opcode => Opcode.Link;
    /// <summary>The existing node that gets a new name; <see cref="FsRequest.NodeId"/> is the new parent.</summary>
    public ulong OldNodeId { get => Args.OldNodeId; internal set => Args = Args with { OldNodeId = value }; }
    public FileName NewName { get => Args.NewName; internal set => Args = Args with { NewName = value }; }

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = OldNodeId;
        return 2;
    }
}

/// <summary>FORGET and BATCH_FORGET: the kernel dropped <c>NLookup</c> references to each node. Never answered.</summary>
public sealed class ForgetRequest : FsRequest
{
    public override Opcode Opcode => (Opcode)Header.Opcode is Opcode.Forget ? Opcode.Forget : Opcode.BatchForget;
    internal ForgetArgs Args;
    public FuseForgetOne[] Items { get => Args.Items ?? []; internal set => Args = Args with { Items = value }; }
    public int Count { get => Args.Count; internal set => Args = Args with { Count = value }; }
    public ReadOnlySpan<FuseForgetOne> Forgets => Items.AsSpan(0, Count);
}

public abstract class AttrRequest : FsRequest
{
    private FuseAttr _attr;
    private TimeSpan? _ttl;

    public bool Reply(in FuseAttr attr, TimeSpan? timeout = null)
    {
        _attr = attr;
        _ttl = timeout;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Attr(scratch, _attr, _ttl, p);

    internal override string? ValidateReply() => AttrValidator.Check(in _attr);
}

public sealed class GetAttrRequest : AttrRequest
{
    internal GetAttrArgs Args;
    public override Opcode Opcode => Opcode.GetAttr;
    /// <summary>The open file handle when the kernel knows one (fstat), else null.</summary>
    public ulong? Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
}

public sealed class SetAttrRequest : AttrRequest
{
    internal SetAttrArgs Args;
    public override Opcode Opcode => Opcode.SetAttr;
    /// <summary>Which fields below are set.</summary>
    public SetAttrValid Valid { get => Args.Valid; internal set => Args = Args with { Valid = value }; }
    public ulong? Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong Size { get => Args.Size; internal set => Args = Args with { Size = value }; }
    public FsTime Atime
    {
        get => new((long)Args.Atime, Args.AtimeNsec);
        internal set => Args = Args with { Atime = (ulong)value.Seconds, AtimeNsec = value.Nanoseconds };
    }
    public FsTime Mtime
    {
        get => new((long)Args.Mtime, Args.MtimeNsec);
        internal set => Args = Args with { Mtime = (ulong)value.Seconds, MtimeNsec = value.Nanoseconds };
    }
    public FsTime Ctime
    {
        get => new((long)Args.Ctime, Args.CtimeNsec);
        internal set => Args = Args with { Ctime = (ulong)value.Seconds, CtimeNsec = value.Nanoseconds };
    }
    public uint Mode { get => Args.Mode; internal set => Args = Args with { Mode = value }; }
    public uint AttrUid { get => Args.Uid; internal set => Args = Args with { Uid = value }; }
    public uint AttrGid { get => Args.Gid; internal set => Args = Args with { Gid = value }; }

    /// <summary>True when any of <paramref name="fields"/> is set in <see cref="Valid"/>.</summary>
    public bool Has(SetAttrValid fields) => (Valid & fields) != 0;
    public bool SetsMode => Has(SetAttrValid.Mode);
    public bool SetsUid => Has(SetAttrValid.Uid);
    public bool SetsGid => Has(SetAttrValid.Gid);
    public bool SetsSize => Has(SetAttrValid.Size);
    public bool SetsAtime => Has(SetAttrValid.Atime);
    public bool SetsMtime => Has(SetAttrValid.Mtime);
    public bool SetsCtime => Has(SetAttrValid.Ctime);
    public bool AtimeNow => Has(SetAttrValid.AtimeNow);
    public bool MtimeNow => Has(SetAttrValid.MtimeNow);
}

public sealed class ReadLinkRequest : FsRequest
{
    private byte[] _target = [];
    public override Opcode Opcode => Opcode.ReadLink;

    /// <summary>Answers with the target's exact bytes (the engine keeps the array until the reply is written).</summary>
    public bool Reply(byte[] target)
    {
        _target = target;
        return Complete();
    }

    /// <summary>Answers with the target's bytes (copied).</summary>
    public bool Reply(ReadOnlySpan<byte> target) => Reply(target.ToArray());

    /// <summary>Answers with a text target, UTF-8 encoded.</summary>
    public bool Reply(string target) => Reply(Encoding.UTF8.GetBytes(target));

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Data(scratch, _target);
    internal override string? ValidateReply() => _target.Length switch
    {
        0 => "empty symlink target",
        > ReplyShape.ReadLinkMax => $"symlink target of {_target.Length} bytes (the kernel takes at most {ReplyShape.ReadLinkMax})",
        _ => null,
    };
}

/// <summary>Base for requests answered with no payload (UNLINK, RMDIR, RENAME, RELEASE, FSYNC, ...).</summary>
public abstract class EmptyReplyRequest : FsRequest
{
    /// <summary>Answers success.</summary>
    public bool Reply() => Complete();
}

public sealed class UnlinkRequest : EmptyReplyRequest
{
    internal UnlinkArgs Args;
    public override Opcode Opcode => Opcode.Unlink;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
}

public sealed class RmDirRequest : EmptyReplyRequest
{
    internal RmDirArgs Args;
    public override Opcode Opcode => Opcode.RmDir;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
}

/// <summary>RENAME and RENAME2. <see cref="FsRequest.NodeId"/> is the old parent.</summary>
public sealed class RenameRequest : EmptyReplyRequest
{
    internal RenameArgs Args;
    public override Opcode Opcode => Flags == 0 ? Opcode.Rename : Opcode.Rename2;
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    public ulong NewDir { get => Args.NewDir; internal set => Args = Args with { NewDir = value }; }
    public FileName NewName { get => Args.NewName; internal set => Args = Args with { NewName = value }; }
    /// <summary>renameat2(2) flags (RENAME2 only).</summary>
    public RenameFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    public bool NoReplace => (Flags & RenameFlags.NoReplace) != 0;
    public bool Exchange => (Flags & RenameFlags.Exchange) != 0;

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = NewDir;
        return 2;
    }
}

/// <summary>Kernel passthrough for OPEN and CREATE: the kernel then reads and writes the backing file itself.</summary>
public static class BackingFiles
{
    /// <summary>True when this connection negotiated FUSE_PASSTHROUGH and its device can register backing files.</summary>
    public static bool CanPassthrough(this FsRequest r) => r.Protocol?.Passthrough == true && r.Device is IPassthroughDevice;

    /// <summary>Registers an open host descriptor as a backing file. Returns the backing id (&gt; 0) for
    /// <c>Reply(fh, FopenFlags.Passthrough, id)</c>, or a negated errno (then reply without passthrough).</summary>
    public static int OpenBackingFile(this FsRequest r, int fd) =>
        r.CanPassthrough() ? ((IPassthroughDevice)r.Device!).OpenBacking(fd) : -(int)Errno.EOPNOTSUPP;

    /// <summary>Drops a backing id once the open that used it is released.</summary>
    public static int CloseBackingFile(this FsRequest r, int backingId) =>
        r.Device is IPassthroughDevice d ? d.CloseBacking(backingId) : -(int)Errno.EOPNOTSUPP;
}

/// <summary>OPEN and OPENDIR.</summary>
public sealed class OpenRequest : FsRequest
{
    internal OpenArgs Args;
    private ulong _fh;
    private FopenFlags _fopen;
    private int _backingId;
    public override Opcode Opcode => IsDirectory ? Opcode.OpenDir : Opcode.Open;
    public bool IsDirectory { get => Args.IsDirectory; internal set => Args = Args with { IsDirectory = value }; }
    /// <summary>open(2) flags (access mode, O_TRUNC with ATOMIC_O_TRUNC, O_APPEND, ...).</summary>
    public OpenFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    /// <summary>fuse_open_in.open_flags (FUSE_OPEN_KILL_SUIDGID).</summary>
    public KernelOpenFlags KernelOpenFlags { get => Args.KernelOpenFlags; internal set => Args = Args with { KernelOpenFlags = value }; }

    /// <summary>Answers with a handle the kernel passes back on READ/WRITE/RELEASE. <paramref name="backingId"/>
    /// (from <see cref="BackingFiles.OpenBackingFile"/>) goes with <see cref="FopenFlags.Passthrough"/>.</summary>
    public bool Reply(ulong fh, FopenFlags flags = 0, int backingId = 0)
    {
        _fh = fh;
        _fopen = flags;
        _backingId = backingId;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Open(scratch, _fh, _fopen, _backingId);
}

public sealed class CreateRequest : EntryRequest
{
    internal CreateArgs Args;
    private ulong _fh;
    private FopenFlags _fopen;
    private int _backingId;
    public override Opcode Opcode => Args.IsTmpFile ? Opcode.TmpFile : Opcode.Create;
    /// <summary>True for open(O_TMPFILE): make an unnamed file in the directory <see cref="FsRequest.NodeId"/> (its link
    /// count 0 until a LINK gives it a name); <see cref="Name"/> is then empty.</summary>
    public bool IsTmpFile { get => Args.IsTmpFile; internal set => Args = Args with { IsTmpFile = value }; }
    public FileName Name { get => Args.Name; internal set => Args = Args with { Name = value }; }
    /// <summary>open(2) flags (O_CREAT is implied; O_EXCL, O_TRUNC, access mode, ...).</summary>
    public OpenFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    /// <summary>Includes S_IFREG; already masked with the umask.</summary>
    public uint Mode { get => Args.Mode; internal set => Args = Args with { Mode = value }; }
    public uint Umask { get => Args.Umask; internal set => Args = Args with { Umask = value }; }
    /// <summary>fuse_create_in.open_flags (FUSE_OPEN_KILL_SUIDGID).</summary>
    public KernelOpenFlags KernelOpenFlags { get => Args.KernelOpenFlags; internal set => Args = Args with { KernelOpenFlags = value }; }

    public bool Reply(in Entry entry, ulong fh, FopenFlags flags = 0, int backingId = 0)
    {
        _fh = fh;
        _fopen = flags;
        _backingId = backingId;
        return Reply(entry);
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p)
    {
        ref readonly var e = ref ReplyEntry;
        return ReplyEncoder.Create(scratch, e.NodeId, e.Generation, e.Attr, e.EntryTimeout, e.AttrTimeout, _fh, _fopen, _backingId, p);
    }
}

public sealed class ReadRequest : FsRequest, IRingFileRead
{
    private ReadOnlyMemory<byte> _data;
    private byte[]? _pooled;
    // A read started on the transport's ring (TryReplyInPlaceByRing): the filesystem's callbacks and its state, until it ends.
    private RingReadFilled? _ringFilled;
    private RingReadEnded? _ringEnded;
    private object? _ringState;
    private Exception? _ringFailure;
    internal ReadArgs Args;
    public override Opcode Opcode => Opcode.Read;
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong Offset { get => Args.Offset; internal set => Args = Args with { Offset = value }; }
    /// <summary>Most bytes to return; fewer means end of file for cached reads.</summary>
    public uint Size { get => Args.Size; internal set => Args = Args with { Size = value }; }
    public ReadFlags ReadFlags { get => Args.ReadFlags; internal set => Args = Args with { ReadFlags = value }; }
    /// <summary>The open(2) flags of the file handle.</summary>
    public OpenFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    /// <summary>Valid when <see cref="ReadFlags"/> has <see cref="Engine.Protocol.ReadFlags.LockOwner"/>.</summary>
    public ulong LockOwner => Args.LockOwner;

    /// <summary>Answers with <paramref name="data"/> (not copied: it must stay unchanged until written).</summary>
    public bool Reply(ReadOnlyMemory<byte> data)
    {
        _data = data;
        return Complete();
    }

    /// <summary>Answers with the first <paramref name="length"/> bytes of a buffer rented from <see cref="ArrayPool{T}.Shared"/>;
    /// the engine returns it to the pool after the write.</summary>
    public bool ReplyPooled(byte[] rented, int length)
    {
        _pooled = rented;
        _data = rented.AsMemory(0, length);
        return Complete();
    }

    /// <summary>
    /// Answers with up to <paramref name="length"/> bytes of the file <paramref name="fd"/> from <paramref name="offset"/>
    /// (fewer at its end; never more than <see cref="Size"/>), read during this call: the filesystem must not change
    /// the file until it returns, and may close it after. Over io_uring the file is read straight into the ring entry and
    /// the reply is written there and then, one copy fewer than <see cref="Reply(ReadOnlyMemory{byte})"/> of a buffer the
    /// filesystem filled; on /dev/fuse its pages are spliced into the device where a pipe holds the whole reply (no copy
    /// in the daemon); elsewhere it is read into a pooled buffer and answered as <see cref="ReplyPooled"/>. A failed read
    /// of the file is answered with its errno. The reply is taken before the file is read: until the read ends the
    /// engine can answer the request neither after a timeout nor after an interrupt, so use it only for reads that
    /// cannot hang (a file in memory, pages the host holds).
    /// </summary>
    public bool ReplyFromFile(int fd, long offset, int length)
    {
        length = (int)Math.Min((uint)Math.Max(length, 0), Size);
        if (Device is IFileReplyDevice direct && ReplyTo is not null)
        {
            if (!TryClaimReply()) return false;
            int sent = direct.ReplyFromFile(Unique, fd, offset, length, out int writeResult);
            if (sent < 0) SetError((Errno)(-sent));
            _directLength = Math.Max(sent, 0);
            ReplyWrittenResult = writeResult;
            ReplyWritten = true;
            SendBack();
            return true;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        int got = FileRead.Fully(fd, buffer.AsSpan(0, length), offset);
        if (got < 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return Fail((Errno)(-got));
        }
        return ReplyPooled(buffer, got);
    }

    /// <summary>
    /// Answers with bytes <paramref name="fill"/> writes straight into the transport's own reply buffer, where it has one
    /// (io_uring: the ring entry, page-aligned, so an O_DIRECT read can land there), with no copy after it. The fill gets
    /// <see cref="Size"/> bytes of buffer and returns how many it wrote (fewer only at the file's end), or a negative
    /// number to refuse: nothing is answered then (nor if it throws: the exception goes on up). It runs on the calling
    /// thread, during this call, and must not wait for anything unbounded: until it returns, the engine can answer the
    /// request neither after a timeout nor after an interrupt. False (nothing answered) where the transport has no such
    /// buffer, when the request was answered already, or when the fill refused: the caller then answers some other way.
    /// </summary>
    public bool TryReplyInPlace<TState>(TState state, InPlaceFill<TState> fill)
    {
        if (Device is not IInPlaceReplyDevice device || ReplyTo is null) return false;
        if (!TryBeginInPlaceReply()) return false;
        int n;
        var buffer = device.BeginInPlaceReply(Unique, (int)Size, out int slot);
        try
        {
            n = slot < 0 ? -1 : fill(state, buffer);
        }
        catch
        {
            EndInPlaceReply(answered: false); // open again: the handler's failure is answered as any other
            throw;
        }
        if (n < 0 || n > buffer.Length)
        {
            EndInPlaceReply(answered: false);
            return false;
        }
        _directLength = n;
        ReplyWrittenResult = device.EndInPlaceReply(slot, Unique, n);
        ReplyWritten = true;
        EndInPlaceReply(answered: true);
        SendBack();
        return true;
    }

    /// <summary>
    /// Answers with <see cref="Size"/> bytes of the file <paramref name="fd"/> from <paramref name="offset"/>, read by the
    /// transport itself straight into its reply buffer without holding this thread (io_uring: a read submitted on the
    /// request's own queue, whose thread serves other requests while it is in flight). Only on that queue's thread
    /// (<see cref="FsRequest.OnItsIoUringQueueThread"/>); false (nothing started, nothing answered) elsewhere, or when the
    /// request was answered already. True: the read is in flight, and later, on that thread,
    /// <paramref name="filled"/> gets its result and the buffer and says how many bytes to answer with (it may read on
    /// first; negative: answer nothing), then <paramref name="ended"/> says whether that reply went. Until then the
    /// engine can answer the request neither after a timeout nor after an interrupt (use it for reads whose wait is
    /// bounded: a local disk's), and <paramref name="fd"/> must stay open. When <paramref name="ended"/> hears that
    /// nothing went (refused, a throw in <paramref name="filled"/>, or the queue ended first), the request is the
    /// filesystem's to answer again. What <paramref name="filled"/> throws is handed to <paramref name="ended"/>, which
    /// must not throw (one that does ends the queue, as work after the mailboxes does); call
    /// <see cref="FsRequest.Defer"/> before, as for any reply given later.
    /// </summary>
    public bool TryReplyInPlaceByRing(int fd, long offset, object? state, RingReadFilled filled, RingReadEnded ended)
    {
        if (Device is not IRingFileReadDevice device || ReplyTo is null) return false;
        if (!TryBeginInPlaceReply()) return false;
        _ringFilled = filled;
        _ringEnded = ended;
        _ringState = state;
        _ringFailure = null;
        bool started = false;
        try
        {
            started = device.StartFileRead(Unique, fd, offset, (int)Size, this);
        }
        finally
        {
            if (!started)
            {
                ForgetRingRead();
                EndInPlaceReply(answered: false); // open again: the caller answers it some other way
            }
        }
        return started;
    }

    private void ForgetRingRead()
    {
        _ringFilled = null;
        _ringEnded = null;
        _ringState = null;
        _ringFailure = null;
    }

    int IRingFileRead.Filled(int result, Span<byte> buffer)
    {
        int n;
        try
        {
            n = _ringFilled!(this, _ringState, result, buffer);
        }
        catch (Exception e)
        {
            _ringFailure = e; // handed to the filesystem's ended callback, which answers the request
            return -1;
        }
        if (n >= 0 && n <= buffer.Length) _directLength = n;
        return n;
    }

    void IRingFileRead.Ended(bool sent, int writeResult)
    {
        var ended = _ringEnded!;
        var state = _ringState;
        var failure = _ringFailure;
        ForgetRingRead();
        try
        {
            if (sent)
            {
                ReplyWrittenResult = writeResult;
                ReplyWritten = true;
                EndInPlaceReply(answered: true);
                SendBack();
            }
            else EndInPlaceReply(answered: false);
        }
        finally
        {
            ended(this, state, sent, failure); // (it releases what the filesystem holds for the read)
        }
    }

    /// <summary>Data bytes of the reply (of one written by <see cref="ReplyFromFile"/> too).</summary>
    internal int ReplyLength => ReplyWritten ? _directLength : _data.Length;

    private int _directLength;

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Data(scratch, _data.Span);
    internal override string? ValidateReply() => _data.Length > Size ? $"read reply of {_data.Length} bytes for a {Size}-byte read" : null;

    internal override void ReleaseBuffers()
    {
        if (_pooled is { } p) { _pooled = null; ArrayPool<byte>.Shared.Return(p); }
        _data = default;
        base.ReleaseBuffers();
    }
}

public sealed class WriteRequest : FsRequest
{
    private uint _written;
    internal byte[]? Buffer;
    internal Connection.RequestBufferPool? Pool;
    internal WriteArgs Args;
    public override Opcode Opcode => Opcode.Write;
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong Offset { get => Args.Offset; internal set => Args = Args with { Offset = value }; }
    public uint Size => (uint)Args.Data.Length;
    public WriteFlags WriteFlags { get => Args.WriteFlags; internal set => Args = Args with { WriteFlags = value }; }
    /// <summary>The open(2) flags of the file handle.</summary>
    public OpenFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    /// <summary>Valid when <see cref="WriteFlags"/> has <see cref="Engine.Protocol.WriteFlags.LockOwner"/>.</summary>
    public ulong LockOwner => Args.LockOwner;
    /// <summary>The payload, in the request's buffer. Valid only until the request is answered. A handler that writes
    /// it on synchronously takes <see cref="LeaseData"/> instead, which may spare the daemon a copy.</summary>
    public ReadOnlyMemory<byte> Data
    {
        get
        {
            _lent?.EnsureCopied(_ticket);
            return Args.Data;
        }
        internal set
        {
            _lent = null;
            Args = Args with { Data = value };
        }
    }

    // A large WRITE over io_uring leaves its data in the ring entry until first used (Engine.Device.LentPayload).
    private Engine.Device.LentPayload? _lent;
    private long _ticket;

    /// <summary>The device reader: the data is still in <paramref name="lent"/>, to be copied into this request's buffer
    /// (where <see cref="Data"/> points) on first use.</summary>
    internal void Lend(Engine.Device.LentPayload lent, long ticket)
    {
        lent.SetDestination(ticket, System.Runtime.InteropServices.MemoryMarshal.AsMemory(Args.Data));
        _lent = lent;
        _ticket = ticket;
    }

    /// <summary>
    /// The data for a synchronous use in the calling method only (a <c>ref struct</c>: it cannot be kept or awaited
    /// across), ended by Dispose: <c>using (var data = r.LeaseData()) { ... data.Span ... }</c>, then answer. On the
    /// thread of the io_uring queue the request came from, a large WRITE's data is used where the kernel put it, without
    /// the copy into the request's buffer; anywhere else this is <see cref="Data"/>. The ring entry stays out of the
    /// kernel's hands until the lease ends, so a lease must always be disposed. (One left open is ended by the engine
    /// once the queue's thread is back in its reader loop, and logged as an error: until then the entry is held, and an
    /// answer the engine gives from another thread meanwhile waits for it.)
    /// </summary>
    public WriteDataLease LeaseData() =>
        _lent is { } lent && lent.TryLease(_ticket, out var inPlace)
            ? new WriteDataLease(inPlace, lent, _ticket)
            : new WriteDataLease(Data.Span, null, 0);

    /// <summary>What the filesystem answered it wrote (metrics).</summary>
    internal uint Written => _written;

    public bool Reply(uint written)
    {
        _written = written;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Write(scratch, _written);
    internal override string? ValidateReply() => _written > Size ? $"write reply claims {_written} bytes of {Size}" : null;

    // The filesystem is done with the data: answered by it, and not orphaned by its actor's stop.
    private bool DoneWithData => IsSettled && !IsOrphaned;

    internal override void ReleaseLentData()
    {
        if (DoneWithData) _lent?.Release(_ticket);
    }

    internal override void ReleaseBuffers()
    {
        if (_lent is { } lent)
        {
            // Done with it: the entry may go back without a copy. Not done (the engine answered first, or the actor
            // stopped with it deferred): copied into the buffer, which whoever still works on it keeps using.
            if (DoneWithData) lent.Release(_ticket);
            else lent.EnsureCopied(_ticket);
        }
        Data = default;
        if (Buffer is { } b) { Buffer = null; if (!IsOrphaned) Pool?.Return(b); }
        base.ReleaseBuffers();
    }
}

/// <summary>A WRITE's data for one synchronous use (<see cref="WriteRequest.LeaseData"/>); Dispose ends it.</summary>
public readonly ref struct WriteDataLease
{
    private readonly Engine.Device.LentPayload? _lent;
    private readonly long _ticket;

    internal WriteDataLease(ReadOnlySpan<byte> span, Engine.Device.LentPayload? lent, long ticket)
    {
        Span = span;
        _lent = lent;
        _ticket = ticket;
    }

    /// <summary>The data. Not to be used after Dispose.</summary>
    public ReadOnlySpan<byte> Span { get; }

    public void Dispose() => _lent?.EndLease(_ticket);
}

public sealed class StatFsRequest : FsRequest
{
    private StatFs _st;
    public override Opcode Opcode => Opcode.StatFs;

    public bool Reply(in StatFs st)
    {
        _st = st;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.StatFs(scratch, new FuseKStatFs
    {
        Blocks = _st.Blocks, Bfree = _st.BlocksFree, Bavail = _st.BlocksAvailable, Files = _st.Files, Ffree = _st.FilesFree,
        Bsize = _st.BlockSize, NameLen = _st.NameLength, Frsize = _st.FragmentSize,
    });
}

/// <summary>RELEASE and RELEASEDIR: the last reference to an open handle went away. Errors are ignored by the kernel.</summary>
public sealed class ReleaseRequest : EmptyReplyRequest
{
    internal ReleaseArgs Args;
    public override Opcode Opcode => IsDirectory ? Opcode.ReleaseDir : Opcode.Release;
    public bool IsDirectory { get => Args.IsDirectory; internal set => Args = Args with { IsDirectory = value }; }
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    /// <summary>The open(2) flags of the file handle.</summary>
    public OpenFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
    public ReleaseFlags ReleaseFlags { get => Args.ReleaseFlags; internal set => Args = Args with { ReleaseFlags = value }; }
    public ulong LockOwner => Args.LockOwner;
}

/// <summary>FSYNC and FSYNCDIR.</summary>
public sealed class FsyncRequest : EmptyReplyRequest
{
    internal FsyncArgs Args;
    public override Opcode Opcode => IsDirectory ? Opcode.FsyncDir : Opcode.Fsync;
    public bool IsDirectory { get => Args.IsDirectory; internal set => Args = Args with { IsDirectory = value }; }
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public FsyncFlags FsyncFlags => Args.FsyncFlags;
    /// <summary>fdatasync: only the data must reach storage.</summary>
    public bool DataSync
    {
        get => Args.DataSync;
        internal set => Args = Args with { FsyncFlags = value ? Args.FsyncFlags | FsyncFlags.DataSync : Args.FsyncFlags & ~FsyncFlags.DataSync };
    }
}

public sealed class FlushRequest : EmptyReplyRequest
{
    internal FlushArgs Args;
    public override Opcode Opcode => Opcode.Flush;
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong LockOwner { get => Args.LockOwner; internal set => Args = Args with { LockOwner = value }; }
}

public sealed class SetXAttrRequest : EmptyReplyRequest
{
    internal SetXAttrArgs Args;
    public override Opcode Opcode => Opcode.SetXAttr;
    /// <summary>The attribute's name, its exact bytes (it may hold '/' and need not be UTF-8).</summary>
    public byte[] Name { get => Args.Name ?? []; internal set => Args = Args with { Name = value }; }
    /// <summary>The name decoded as UTF-8, or null when it is not valid UTF-8 (never a lossy decoding).</summary>
    public string? NameUtf8 => FsRequest.Utf8OrNull(Name);
    public byte[] Value { get => Args.Value ?? []; internal set => Args = Args with { Value = value }; }
    /// <summary>XATTR_CREATE or XATTR_REPLACE (or neither).</summary>
    public XAttrFlags Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }
}

/// <summary>GETXATTR. Answer with the whole value: the engine answers the size-0 probe and ERANGE itself.</summary>
public sealed class GetXAttrRequest : FsRequest
{
    private byte[] _value = [];
    internal GetXAttrArgs Args;
    public override Opcode Opcode => Opcode.GetXAttr;
    /// <summary>The attribute's name, its exact bytes (it may hold '/' and need not be UTF-8).</summary>
    public byte[] Name { get => Args.Name ?? []; internal set => Args = Args with { Name = value }; }
    /// <summary>The name decoded as UTF-8, or null when it is not valid UTF-8 (never a lossy decoding).</summary>
    public string? NameUtf8 => FsRequest.Utf8OrNull(Name);
    /// <summary>The caller's buffer size; 0 asks only for the value's length.</summary>
    public uint Size { get => Args.Size; internal set => Args = Args with { Size = value }; }

    public bool Reply(byte[] value)
    {
        _value = value;
        if (Size != 0 && value.Length > Size) return Fail(Errno.ERANGE);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        Size == 0 ? ReplyEncoder.XAttrSize(scratch, (uint)_value.Length) : ReplyEncoder.Data(scratch, _value);
}

/// <summary>LISTXATTR. Answer with the names: the engine encodes them, and answers the size-0 probe and ERANGE.</summary>
public sealed class ListXAttrRequest : FsRequest
{
    private byte[] _names = [];
    internal ListXAttrArgs Args;
    public override Opcode Opcode => Opcode.ListXAttr;
    /// <summary>The caller's buffer size; 0 asks only for the list's length.</summary>
    public uint Size { get => Args.Size; internal set => Args = Args with { Size = value }; }

    /// <summary>Answers with the names' exact bytes (each without its NUL; the engine adds them).</summary>
    public bool Reply(IEnumerable<byte[]> names)
    {
        int length = 0;
        foreach (var n in names) length += n.Length + 1;
        var list = new byte[length];
        int at = 0;
        foreach (var n in names)
        {
            n.CopyTo(list, at);
            at += n.Length + 1; // the NUL is already there
        }
        return ReplyList(list);
    }

    /// <summary>Answers with text names, UTF-8 encoded.</summary>
    public bool Reply(IEnumerable<string> names)
    {
        var sb = new StringBuilder();
        foreach (var n in names) sb.Append(n).Append('\0');
        return ReplyList(Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>Answers with the list as the kernel carries it: every name followed by a NUL.</summary>
    public bool ReplyList(byte[] nulTerminatedNames)
    {
        _names = nulTerminatedNames;
        if (Size != 0 && _names.Length > Size) return Fail(Errno.ERANGE);
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        Size == 0 ? ReplyEncoder.XAttrSize(scratch, (uint)_names.Length) : ReplyEncoder.Data(scratch, _names);
}

public sealed class RemoveXAttrRequest : EmptyReplyRequest
{
    internal RemoveXAttrArgs Args;
    public override Opcode Opcode => Opcode.RemoveXAttr;
    /// <summary>The attribute's name, its exact bytes (it may hold '/' and need not be UTF-8).</summary>
    public byte[] Name { get => Args.Name ?? []; internal set => Args = Args with { Name = value }; }
    /// <summary>The name decoded as UTF-8, or null when it is not valid UTF-8 (never a lossy decoding).</summary>
    public string? NameUtf8 => FsRequest.Utf8OrNull(Name);
}

public sealed class AccessRequest : EmptyReplyRequest
{
    internal AccessArgs Args;
    public override Opcode Opcode => Opcode.Access;
    /// <summary>R_OK 4, W_OK 2, X_OK 1 (0 = existence).</summary>
    public uint Mask { get => Args.Mask; internal set => Args = Args with { Mask = value }; }
}

public sealed class FallocateRequest : EmptyReplyRequest
{
    internal FallocateArgs Args;
    public override Opcode Opcode => Opcode.Fallocate;
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong Offset { get => Args.Offset; internal set => Args = Args with { Offset = value }; }
    public ulong Length { get => Args.Length; internal set => Args = Args with { Length = value }; }
    /// <summary>fallocate(2) mode; 0 allocates and may extend the file.</summary>
    public FallocateFlags Mode { get => Args.Mode; internal set => Args = Args with { Mode = value }; }
}

public sealed class LseekRequest : FsRequest
{
    private ulong _offset;
    internal LseekArgs Args;
    public override Opcode Opcode => Opcode.Lseek;
    public ulong Fh { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    public ulong Offset { get => Args.Offset; internal set => Args = Args with { Offset = value }; }
    /// <summary>SEEK_DATA (3) or SEEK_HOLE (4); the kernel handles the others itself.</summary>
    public uint Whence { get => Args.Whence; internal set => Args = Args with { Whence = value }; }

    public bool Reply(ulong offset)
    {
        _offset = offset;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) => ReplyEncoder.Lseek(scratch, _offset);
}

/// <summary>COPY_FILE_RANGE and COPY_FILE_RANGE_64.</summary>
public sealed class CopyFileRangeRequest : FsRequest
{
    private ulong _copied;
    internal CopyFileRangeArgs Args;
    public override Opcode Opcode => Is64 ? Opcode.CopyFileRange64 : Opcode.CopyFileRange;
    public bool Is64 { get => Args.Is64; internal set => Args = Args with { Is64 = value }; }
    public ulong FhIn { get => Args.FhIn; internal set => Args = Args with { FhIn = value }; }
    public ulong OffsetIn { get => Args.OffsetIn; internal set => Args = Args with { OffsetIn = value }; }
    public ulong NodeIdOut { get => Args.NodeIdOut; internal set => Args = Args with { NodeIdOut = value }; }
    public ulong FhOut { get => Args.FhOut; internal set => Args = Args with { FhOut = value }; }
    public ulong OffsetOut { get => Args.OffsetOut; internal set => Args = Args with { OffsetOut = value }; }
    public ulong Length { get => Args.Length; internal set => Args = Args with { Length = value }; }
    public ulong Flags { get => Args.Flags; internal set => Args = Args with { Flags = value }; }

    public bool Reply(ulong copied)
    {
        _copied = copied;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        Is64 ? ReplyEncoder.CopyFileRange64(scratch, _copied) : ReplyEncoder.CopyFileRange(scratch, _copied);

    internal override string? ValidateReply() => _copied > Length ? $"copy_file_range reply claims {_copied} of {Length} bytes" : null;

    internal override int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        into[1] = NodeIdOut;
        return 2;
    }
}

/// <summary>FUSE_GETLK (fcntl F_GETLK, F_OFD_GETLK): is there a lock that stops <see cref="Owner"/> from taking
/// <see cref="Lock"/>? Answer with that lock, or with a lock of type <see cref="LockType.Unlock"/> when there is none.
/// Reaches a filesystem only when it declares <see cref="FilesystemCapabilities.PosixLocks"/>.</summary>
public sealed class GetLockRequest : FsRequest
{
    internal LockArgs Args;
    private FileLock _conflicting;
    public override Opcode Opcode => Opcode.GetLk;
    /// <summary>The open file's handle (what <c>Open</c> answered).</summary>
    public ulong FileHandle { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    /// <summary>fuse_lk_in.owner: the lock owner asking (the same owner's own locks never conflict).</summary>
    public ulong Owner { get => Args.Owner; internal set => Args = Args with { Owner = value }; }
    /// <summary>The lock the caller would take (its range and type; the end is <see cref="FileLock.ToEndOfFile"/> for "to the end of the file").</summary>
    public FileLock Lock => LockWire.ToFileLock(Args.Lock);

    /// <summary>Answers with the conflicting lock (its holder's pid is shown to the caller), or a lock of type
    /// <see cref="LockType.Unlock"/> for "no conflict".</summary>
    public bool Reply(FileLock conflicting)
    {
        _conflicting = conflicting;
        return Complete();
    }

    internal override ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol p) =>
        _conflicting.Type == LockType.Unlock
            ? ReplyEncoder.Lock(scratch, 0, 0, (uint)LockType.Unlock, 0)
            : ReplyEncoder.Lock(scratch, _conflicting.Start, _conflicting.End, (uint)_conflicting.Type, _conflicting.Pid);

    internal override string? ValidateReply() =>
        _conflicting.Type is not (LockType.Read or LockType.Write or LockType.Unlock) ? $"lock reply with type {(uint)_conflicting.Type}"
        : _conflicting.Type != LockType.Unlock && _conflicting.End < _conflicting.Start ? "lock reply that ends before it starts"
        : null;

    public override string ToString() => $"{base.ToString()} owner={Owner:x} lock={Lock}";
}

/// <summary>FUSE_SETLK and FUSE_SETLKW (fcntl F_SETLK/F_SETLKW, lockf, and flock(2) with <see cref="IsFlock"/>): take,
/// change or drop (<see cref="LockType.Unlock"/>) <see cref="Owner"/>'s lock on <see cref="Lock"/>'s range. Answer
/// <c>Reply()</c> once it is held, or EAGAIN when another owner's lock conflicts and <see cref="Wait"/> is false.
/// With <see cref="Wait"/> keep the request (<see cref="FsRequest.Defer"/>) until the lock can be taken: the request
/// timeout does not apply to it. A waiter whose caller gets a signal receives <c>Interrupted</c>: answer EINTR (if the
/// filesystem does not, the engine does after the interrupt grace). Locks a filesystem holds for an owner end with
/// FLUSH (POSIX locks: <see cref="FlushRequest.LockOwner"/>) and RELEASE with <see cref="ReleaseFlags.FlockUnlock"/>
/// (flock: <see cref="ReleaseRequest.LockOwner"/>).</summary>
public sealed class SetLockRequest : EmptyReplyRequest
{
    internal LockArgs Args;
    public override Opcode Opcode => Wait ? Opcode.SetLkW : Opcode.SetLk;
    /// <summary>The open file's handle (what <c>Open</c> answered).</summary>
    public ulong FileHandle { get => Args.Fh; internal set => Args = Args with { Fh = value }; }
    /// <summary>fuse_lk_in.owner: a process's POSIX lock owner, or for flock the open file.</summary>
    public ulong Owner { get => Args.Owner; internal set => Args = Args with { Owner = value }; }
    /// <summary>The range and type wanted; a flock is the whole file (0 .. <see cref="FileLock.ToEndOfFile"/>).</summary>
    public FileLock Lock => LockWire.ToFileLock(Args.Lock);
    /// <summary>SETLKW: the caller waits until the lock can be taken (instead of EAGAIN).</summary>
    public bool Wait { get => Args.Wait; internal set => Args = Args with { Wait = value }; }
    /// <summary>A flock(2) (FUSE_LK_FLOCK), not a POSIX record lock: keep it apart from the POSIX locks.</summary>
    public bool IsFlock => Args.IsFlock;

    internal override bool WaitsIndefinitely => Args.Wait;

    public override string ToString() => $"{base.ToString()} owner={Owner:x} lock={Lock}{(IsFlock ? " flock" : "")}";
}

internal static class LockWire
{
    /// <summary>The kernel's fuse_file_lock as the public lock: OFFSET_MAX (or beyond) is <see cref="FileLock.ToEndOfFile"/>.</summary>
    public static FileLock ToFileLock(in FuseFileLock l) =>
        new(l.Start, l.End >= FuseConstants.OffsetMax ? FileLock.ToEndOfFile : l.End, (LockType)l.Type, l.Pid);
}

/// <summary>The connection is going away (sent by the engine on unmount, and by the kernel for fuseblk).</summary>
public sealed class DestroyRequest : EmptyReplyRequest
{
    public override Opcode Opcode => Opcode.Destroy;
}

internal static class AttrValidator
{
    public static string? Check(in FuseAttr a)
    {
        if (!ModeBits.IsValidType(a.Mode)) return $"attributes with invalid file type in mode 0{Convert.ToString(a.Mode, 8)}";
        if (a.Size > long.MaxValue) return "attributes with size above INT64_MAX";
        if (a.AtimeNsec >= 1_000_000_000 || a.MtimeNsec >= 1_000_000_000 || a.CtimeNsec >= 1_000_000_000) return "attributes with nanoseconds >= 1e9";
        return null;
    }
}

/// <summary>Writes a READ's reply into <paramref name="buffer"/> (see <see cref="ReadRequest.TryReplyInPlace{TState}"/>):
/// the bytes written, or a negative number to refuse.</summary>
public delegate int InPlaceFill<TState>(TState state, Span<byte> buffer);

/// <summary>A READ's file read on the transport's ring ended (see <see cref="ReadRequest.TryReplyInPlaceByRing"/>):
/// <paramref name="result"/> is the bytes read or a negated errno, <paramref name="buffer"/> the reply buffer. Returns
/// how many bytes of it to answer with, or a negative number to answer nothing.</summary>
public delegate int RingReadFilled(ReadRequest request, object? state, int result, Span<byte> buffer);

/// <summary>Says how a READ's file read on the transport's ring ended (see <see cref="ReadRequest.TryReplyInPlaceByRing"/>):
/// <paramref name="answered"/>, or the request is open again (<paramref name="failure"/>: what the fill threw, if it did).</summary>
public delegate void RingReadEnded(ReadRequest request, object? state, bool answered, Exception? failure);
