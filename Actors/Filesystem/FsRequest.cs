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
    // 3 = the filesystem answered after the engine did (a late reply: dropped, but it ends the background work),
    // 4 = the filesystem is writing its reply into the device's own buffer (TryBeginInPlaceReply): it ends answered (1)
    // or open again (0); the engine leaves it alone meanwhile, as one on its way.
    private int _replied;
    // Flag bits below, set with Interlocked.Or (a full fence) from any thread. One int keeps the request as small as
    // before these flags existed: every request allocates one of these objects.
    private int _flags;
    private const int InterruptedFlag = 1;             // the connection saw FUSE_INTERRUPT for it
    private const int CancellationDeliveredFlag = 2;   // the filesystem actor handled the interrupt: the token is cancelled there
    private const int DeferredFlag = 4;                // the handler said it answers later
    private const int CreditReturnedFlag = 8;          // the connection gave this request's read credit back early (SETLKW)
    private const int OrphanedFlag = 16;               // answered EIO because the filesystem actor ended while it was deferred
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

    /// <summary>The connection runs with the kernel's writeback cache (FUSE_WRITEBACK_CACHE negotiated): the kernel then
    /// READs through any open of a file, a write-only one too, to fill the rest of a page that a write covers only in
    /// part, and it places appends itself (its writes carry <c>WriteFlags.Cache</c> and their offsets).</summary>
    public bool WritebackCache => Protocol?.WritebackCache == true;

    /// <summary>The errno of the reply, or <see cref="Errno.Ok"/>.</summary>
    public Errno Error { get; private set; }
    public bool IsReplied => Volatile.Read(ref _replied) is 1 or 2 or 3;

    /// <summary>True once the caller was interrupted (a signal: FUSE_INTERRUPT). Answer EINTR or the result.
    /// A <see cref="FilesystemActor"/> also gets the interrupt as a call of its <c>Interrupted</c> handler.</summary>
    public bool IsInterrupted => (Volatile.Read(ref _flags) & InterruptedFlag) != 0;

    /// <summary>True once the handler said it answers later (<see cref="Defer"/>, or a <c>HandleAsync</c> body).</summary>
    public bool IsDeferred => (Volatile.Read(ref _flags) & DeferredFlag) != 0;

    /// <summary>Cancelled when the caller is interrupted, inside the filesystem actor (when it handles the interrupt
    /// message), so callbacks registered on it run there and not on the engine's thread. Created on first use.</summary>
    public CancellationToken Cancellation
    {
        get
        {
            var cts = Volatile.Read(ref _cts);
            if (cts is null)
            {
                var fresh = new CancellationTokenSource();
                cts = Interlocked.CompareExchange(ref _cts, fresh, null) ?? fresh;
                // Both sides publish with a full fence before they look at the other's field, so either the
                // interrupt sees this source, or this getter sees the interrupt: a cancellation is never lost.
                if (ReferenceEquals(cts, fresh) && (Volatile.Read(ref _flags) & CancellationDeliveredFlag) != 0) cts.Cancel();
            }
            return cts.Token;
        }
    }

    /// <summary>True when other requests of this connection wait: read by another reader and not answered yet (queued
    /// behind this handler, or in the filesystem's own hands), or still queued in the kernel on this request's device.
    /// A handler that would block its thread on slow work (a device read that waits) can hand that work off when others
    /// wait, and do it at once, without a thread hop, when nothing else does. A hint (a look at the read credits and one
    /// poll(2) on /dev/fuse); false where it cannot tell (a request that did not come from a device reader).</summary>
    public bool OthersWaiting =>
        (Load is { } load && load.Unanswered() > 1) || (Device is IRequestQueueProbe probe && probe.RequestsWaiting());

    /// <summary>True when this request came over an io_uring queue and the handler runs on that queue's own reader
    /// thread, which commits the reply (from any other thread it costs a wake-up of it), and the queue's other replies: while
    /// that thread is busy, none of them goes out, whatever else answers (which makes a reply written in place there,
    /// <see cref="ReadRequest.TryReplyInPlace{TState}"/>, cost nothing in what the engine can answer meanwhile). An
    /// inline handler there runs inside the connection's mailbox: for slow work, see <see cref="TryTakeReaderForWork"/>.</summary>
    public bool OnItsIoUringQueueThread => Device is IoUringFuseQueue q && q.OnOwnerThread;

    /// <summary>
    /// Takes the thread this handler runs on, a device reader, for slow but bounded work of this request, to be done
    /// there once the mailboxes are let go (<see cref="Actors.Connection.InlineDispatcher.RunAfterMailboxes"/>) and
    /// answered from there with no thread hop, while other readers keep serving. True:
    /// - over io_uring, on the thread of this request's own queue (<see cref="OnItsIoUringQueueThread"/>), which
    ///   commits its replies (from any other thread a reply costs a wake-up of it); the other CPUs' queues serve
    ///   meanwhile;
    /// - on <c>/dev/fuse</c>, on any reader of this request's connection while at least one other stays free to read
    ///   the device: a reply there is written by the thread that gives it, so a pool thread would cost a wake-up of its
    ///   own. At most all but one reader of a connection are taken at a time, and with a single queue none: work there
    ///   would stop every request of the mount until it ends.
    /// False elsewhere (the default dispatcher, a filesystem's own threads). A true must be followed by
    /// <see cref="GiveBackReader"/> when the work ends.
    /// </summary>
    public bool TryTakeReaderForWork() => Device switch
    {
        IoUringFuseQueue q => q.OnOwnerThread,
        null => false,
        _ => Load is { } load && load.TryTakeThisReader(),
    };

    /// <summary>Ends the work a <see cref="TryTakeReaderForWork"/> that answered true took this reader for.</summary>
    public void GiveBackReader()
    {
        if (Device is not IoUringFuseQueue) Load?.GiveBackReader();
    }

    /// <summary>On the thread of this request's io_uring queue, submits the replies given so far there (those given
    /// while more requests waited in the ring otherwise go with the queue's next wait): before slow work on that
    /// thread, so that answers already given do not wait for it. Nothing elsewhere.</summary>
    public void FlushEarlierReplies()
    {
        if (Device is IoUringFuseQueue q) q.Flush();
    }

    /// <summary>The load of the connection this request came from (set by the device reader).</summary>
    internal Actors.Connection.ConnectionLoad? Load;

    /// <summary>Says that this request is answered later: after the handler returned, from any thread or from a
    /// later message. Without it a handler that returns without answering gets EIO at once (a dropped request
    /// would otherwise hang its caller until the request timeout). A deferred request that the filesystem actor
    /// still holds when it stops or restarts is answered EIO at once.</summary>
    public void Defer() => Interlocked.Or(ref _flags, DeferredFlag);

    /// <summary>Answers with an errno (positive, e.g. <see cref="Errno.ENOENT"/>).</summary>
    public bool Fail(Errno error)
    {
        // The slot first: a Fail that loses (an EINTR from the interrupt handler racing a worker's Reply) must not
        // change the errno of the reply that won.
        if (!TryClaimReply()) return false;
        Error = error == Errno.Ok ? Errno.EIO : error;
        SendBack();
        return true;
    }

    /// <summary>Sends this request back to the connection with its reply. False if it was already answered
    /// (then nothing reaches the kernel; a reply after the engine answered only ends the request's background life).</summary>
    protected bool Complete()
    {
        if (TryClaimReply())
        {
            ReplyTo?.Tell(this, ActorRefs.NoSender);
            return true;
        }
        return false;
    }

    /// <summary>Takes the reply slot for the filesystem: true when the reply is this one to make. False when the engine
    /// answered first; the request then goes back to the connection at once as a late reply (it ends its background
    /// life). A true result must be followed by <see cref="SendBack"/>.</summary>
    private protected bool TryClaimReply()
    {
        int previous = Interlocked.CompareExchange(ref _replied, 1, 0);
        if (previous == 0) return true;
        if (previous == 2) ReleaseIfEngineAnswered();
        return false;
    }

    /// <summary>Takes the reply slot while the filesystem writes its reply into the device's own buffer: false when it
    /// was answered already. Must be followed by <see cref="EndInPlaceReply"/>, on the same thread, without waiting for
    /// anything unbounded (the engine cannot answer the request meanwhile: not after a timeout, nor after an interrupt).</summary>
    private protected bool TryBeginInPlaceReply() => Interlocked.CompareExchange(ref _replied, 4, 0) == 0;

    /// <summary>Ends <see cref="TryBeginInPlaceReply"/>: answered (the caller then sends the request back, as after
    /// <see cref="TryClaimReply"/>), or open again, to be answered some other way.</summary>
    private protected void EndInPlaceReply(bool answered) => Volatile.Write(ref _replied, answered ? 1 : 0);

    /// <summary>The engine answered this request (timeout, interrupt grace, abort) and the filesystem has ended it
    /// without a reply of its own (its task failed or was cancelled, or it stopped): it goes back as a late reply, which
    /// ends its background life in the connection (the nodes it pinned, the FORGETs held for them). Else nothing.</summary>
    internal void ReleaseIfEngineAnswered()
    {
        if (Interlocked.CompareExchange(ref _replied, 3, 2) == 2) ReplyTo?.Tell(this, ActorRefs.NoSender);
    }

    /// <summary>Hands a request whose reply was claimed with <see cref="TryClaimReply"/> back to the connection.</summary>
    private protected void SendBack() => ReplyTo?.Tell(this, ActorRefs.NoSender);

    /// <summary>The reply already went to the device when it was given (<see cref="ReplyWrittenResult"/> is that write's
    /// result): the connection only ends the request. Set before the request goes back to the connection.</summary>
    internal bool ReplyWritten { get; private protected set; }

    /// <summary>Bytes the direct write put on the device, or its negated errno (see <see cref="ReplyWritten"/>).</summary>
    internal int ReplyWrittenResult { get; private protected set; }

    /// <summary>The reply's errno, for a reply written directly (<see cref="ReplyWritten"/>).</summary>
    private protected void SetError(Errno error) => Error = error;

    /// <summary>The filesystem actor stopped or restarted while it held this request deferred: it is answered EIO, but
    /// whatever was to answer it (another thread, a pending task) may still be using its buffers (a WRITE's data, the
    /// READDIR buffer it fills), so they go to the garbage collector rather than back to a pool someone else rents from.</summary>
    internal void Orphan() => Interlocked.Or(ref _flags, OrphanedFlag);

    /// <summary>See <see cref="Orphan"/>: release no buffer of this request to a pool.</summary>
    internal bool IsOrphaned => (Volatile.Read(ref _flags) & OrphanedFlag) != 0;

    /// <summary>The filesystem is done with it: it answered, or it ended a request the engine had answered (a late
    /// reply). A request the engine answered and the filesystem still works on is not.</summary>
    internal bool IsSettled => Volatile.Read(ref _replied) is 1 or 3;

    /// <summary>True when this request came back from the filesystem after the engine had already answered the kernel.</summary>
    internal bool IsLateReply => Volatile.Read(ref _replied) == 3;

    /// <summary>The connection saw FUSE_INTERRUPT for this request (engine thread: only a flag).</summary>
    internal void MarkInterrupted() => Interlocked.Or(ref _flags, InterruptedFlag);

    /// <summary>Cancels <see cref="Cancellation"/>; called in the filesystem actor when it handles the interrupt.</summary>
    internal void DeliverCancellation()
    {
        Interlocked.Or(ref _flags, InterruptedFlag | CancellationDeliveredFlag);
        Volatile.Read(ref _cts)?.Cancel();
    }

    /// <summary>Claims the reply slot for the engine (timeout, abort), so a late reply from the filesystem is ignored.</summary>
    internal bool TryClaimForEngine(Errno error)
    {
        if (Interlocked.CompareExchange(ref _replied, 2, 0) != 0) return false;
        Error = error;
        return true;
    }

    /// <summary>True for a request that may wait as long as its caller likes (SETLKW): the request timeout does not
    /// apply to it (an interrupt and its grace still do).</summary>
    internal virtual bool WaitsIndefinitely => false;

    /// <summary>The connection gave this request's read credit back when it arrived (a request that may wait forever
    /// must not keep the reader from reading what would end the wait). Touched by the connection only.</summary>
    internal bool CreditReturned
    {
        get => (Volatile.Read(ref _flags) & CreditReturnedFlag) != 0;
        set { if (value) Interlocked.Or(ref _flags, CreditReturnedFlag); }
    }

    /// <summary>The filesystem answered it: data still waiting in the transport's own buffer (a large WRITE's, in its
    /// ring entry) is let go before the reply is written, so the entry goes back to the kernel without copying it out.</summary>
    internal virtual void ReleaseLentData() { }

    /// <summary>Encodes the success payload (the part after fuse_out_header) into <paramref name="scratch"/>,
    /// or returns memory the reply already owns (READ data). Empty for header-only replies.</summary>
    internal virtual ReadOnlySpan<byte> EncodeReply(Span<byte> scratch, NegotiatedProtocol protocol) => default;

    /// <summary>Checks the filesystem's reply against the request before it is encoded. A reply the kernel would
    /// reject (and turn into EIO for the caller anyway) is answered EIO by the engine, with this reason logged.</summary>
    internal virtual string? ValidateReply() => null;

    /// <summary>Returns pooled buffers this request holds (the WRITE payload, a READDIR listing).</summary>
    // The cancellation source is not disposed: it has no timer, and a filesystem may still hold its token.
    internal virtual void ReleaseBuffers() { }

    /// <summary>Node ids this request refers to (for keeping them alive while the request is in the background).</summary>
    internal virtual int ReferencedNodes(Span<ulong> into)
    {
        into[0] = NodeId;
        return 1;
    }

    public override string ToString() => $"{Opcode} unique={Unique} node={NodeId}";

    /// <summary>Bytes decoded as UTF-8 when they are valid UTF-8, else null: the string views of names and targets
    /// never hand out a lossy decoding that could be mistaken for the name.</summary>
    internal static string? Utf8OrNull(byte[] bytes) =>
        System.Text.Unicode.Utf8.IsValid(bytes) ? System.Text.Encoding.UTF8.GetString(bytes) : null;
}
