using Akka.Actor;
using FuseActors.Engine.Device;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// One kernel request, decoded, as a filesystem actor receives it. Each operation has its own subclass with
/// typed fields and typed reply methods (<c>Reply(...)</c>), plus <see cref="Fail"/> for an errno. A request is
/// answered exactly once, from any thread: the reply is stored in the request and the request itself is sent
/// back to the connection, which validates it, encodes it and writes it to the queue it came from.
/// Carrying the reply in the request object keeps the answered-at-once path at one message and no extra garbage.
/// </summary>
public abstract class FsRequest : INoSerializationVerificationNeeded
{
    internal FuseInHeader Header;
    internal IActorRef? ReplyTo;
    internal IFuseDevice? Device;
    internal NegotiatedProtocol? Protocol;
    internal long StartTimestamp;
    // 0 = open, 1 = answered by the filesystem, 2 = answered by the engine (timeout, interrupt grace, abort),
    // 3 = the filesystem answered after the engine did (a late reply: dropped, but it ends the background work).
    private int _replied;
    private volatile bool _interrupted;
    private CancellationTokenSource? _cts;

    public abstract Opcode Opcode { get; }
    /// <summary>The kernel's id for this request.</summary>
    public ulong Unique => Header.Unique;
    /// <summary>The node the operation is on (the parent directory for name operations).</summary>
    public ulong NodeId => Header.NodeId;
    /// <summary>Caller's fsuid / fsgid / thread id (0 for kernel-internal requests).</summary>
    public uint Uid => Header.Uid;
    public uint Gid => Header.Gid;
    public uint Pid => Header.Pid;

    /// <summary>The errno of the reply, or <see cref="Errno.Ok"/>.</summary>
    public Errno Error { get; private set; }
    public bool IsReplied => Volatile.Read(ref _replied) != 0;

    /// <summary>True once the caller was interrupted (a signal: FUSE_INTERRUPT). Answer EINTR or the result.</summary>
    public bool IsInterrupted => _interrupted;

    /// <summary>Cancelled when the caller is interrupted. Created on first use, so requests that never look cost nothing.</summary>
    public CancellationToken Cancellation
    {
        get
        {
            if (_cts is null)
            {
                var cts = new CancellationTokenSource();
                if (Interlocked.CompareExchange(ref _cts, cts, null) != null) cts.Dispose();
                else if (_interrupted) _cts.Cancel();
            }
            return _cts!.Token;
        }
    }

    /// <summary>Answers with an errno (positive, e.g. <see cref="Errno.ENOENT"/>).</summary>
    public bool Fail(Errno error)
    {
        Error = error == Errno.Ok ? Errno.EIO : error;
        return Complete();
    }

    /// <summary>Sends this request back to the connection with its reply. False if it was already answered
    /// (then nothing reaches the kernel; a reply after the engine answered only ends the request's background life).</summary>
    protected bool Complete()
    {
        int previous = Interlocked.CompareExchange(ref _replied, 1, 0);
        if (previous == 0)
        {
            ReplyTo?.Tell(this, ActorRefs.NoSender);
            return true;
        }
        if (previous == 2 && Interlocked.CompareExchange(ref _replied, 3, 2) == 2)
            ReplyTo?.Tell(this, ActorRefs.NoSender);
        return false;
    }

    /// <summary>True when this request came back from the filesystem after the engine had already answered the kernel.</summary>
    internal bool IsLateReply => Volatile.Read(ref _replied) == 3;

    internal void MarkInterrupted()
    {
        _interrupted = true;
        try { Volatile.Read(ref _cts)?.Cancel(); } catch (ObjectDisposedException) { }
    }

    /// <summary>Claims the reply slot for the engine (timeout, abort), so a late reply from the filesystem is ignored.</summary>
    internal bool TryClaimForEngine(Errno error)
    {
        if (Interlocked.CompareExchange(ref _replied, 2, 0) != 0) return false;
        Error = error;
        return true;
    }

    /// <summary>Encodes the success payload (the part after fuse_out_header) into <paramref name="scratch"/>,
    /// or returns memory the reply already owns (READ data). Empty for header-only replies.</summary>
    internal virtual ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol protocol) => default;

    /// <summary>Checks the filesystem's reply against the request before it is encoded. A reply the kernel would
    /// reject (and turn into EIO for the caller anyway) is answered EIO by the engine, with this reason logged.</summary>
    internal virtual string? ValidateReply() => null;

    /// <summary>Returns pooled buffers this request holds (the WRITE payload, a READDIR listing).</summary>
    internal virtual void ReleaseBuffers() => _cts?.Dispose();

    /// <summary>Node ids this request refers to (for keeping them alive while the request is in the background).</summary>
    internal virtual int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        return 1;
    }

    public override string ToString() => $"{Opcode} unique={Unique} node={NodeId}";
}
