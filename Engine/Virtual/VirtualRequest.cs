using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>How a request is sent (the seed's three <c>request_send*</c> functions).</summary>
public enum SendMode
{
    /// <summary><c>request_send</c>: the caller waits for the answer; its cancellation is a signal.</summary>
    WaitForReply,
    /// <summary><c>request_send_noreply</c>: FORGET and friends; finished as soon as the daemon has read it.</summary>
    NoReply,
    /// <summary><c>request_send_background</c>: RELEASE; node references are held until the reply; never blocks on credit.</summary>
    Background,
}

/// <summary>
/// A request as a kernel-side caller hands it to <see cref="VirtualDevice"/>: opcode, node, body (the in-args
/// after the 40-byte header), the expected reply, and the nodes it keeps referenced while in flight.
/// The device adds the header (len, unique, uid/gid/pid).
/// </summary>
public sealed class VirtualRequest
{
    public VirtualRequest(Opcode opcode, ulong nodeId, ReadOnlyMemory<byte> body = default,
        ReplyShape? reply = null, IReadOnlyList<ulong>? nodeRefs = null)
    {
        Opcode = opcode;
        NodeId = nodeId;
        Body = body;
        Reply = reply ?? Operations.ReplyShapeFor(opcode, body.Span);
        NodeRefs = nodeRefs ?? (nodeId != 0 ? [nodeId] : []);
    }

    public Opcode Opcode { get; }
    public ulong NodeId { get; }
    public ReadOnlyMemory<byte> Body { get; }
    public ReplyShape Reply { get; }
    /// <summary>Nodes this request holds a reference on while in flight (the seed's <c>req->inode</c>, <c>req->inode2</c>).</summary>
    public IReadOnlyList<ulong> NodeRefs { get; }

    /// <summary>Total length on the wire, header included.</summary>
    public int Length => FuseConstants.InHeaderSize + Body.Length;

    public override string ToString() => $"{Opcode} node={NodeId} len={Length}";
}

/// <summary>The outcome of a request for its caller: the errno (<see cref="Errno.Ok"/> on success) and the reply payload.</summary>
public sealed class VirtualReply
{
    public VirtualReply(ulong unique, Opcode opcode, Errno error, ReadOnlyMemory<byte> payload = default)
    {
        Unique = unique;
        Opcode = opcode;
        Error = error;
        Payload = payload;
    }

    /// <summary>The request's unique id (0 when it was never queued).</summary>
    public ulong Unique { get; }
    public Opcode Opcode { get; }
    public Errno Error { get; }
    public ReadOnlyMemory<byte> Payload { get; }
    public bool IsOk => Error == Errno.Ok;

    public T Read<T>(int offset = 0) where T : unmanaged => Wire.Read<T>(Payload.Span[offset..]);

    public override string ToString() => $"{Opcode} #{Unique}: {(IsOk ? $"ok, {Payload.Length} bytes" : Error.ToString())}";
}

/// <summary>What a test hook sees about a request while it is being copied to the reader.</summary>
public readonly record struct VirtualRequestInfo(ulong Unique, Opcode Opcode, ulong NodeId, FuseCaller Caller, int Length);

/// <summary>The connection's state, as in fuse-protocol.md §8.</summary>
public enum VirtualDeviceState
{
    /// <summary>Mounted; INIT not answered yet. Callers wait.</summary>
    InitPending,
    /// <summary>INIT answered with major 7.</summary>
    Initialized,
    /// <summary>INIT answered with an error or another major: callers get ECONNREFUSED.</summary>
    ConnectionError,
    /// <summary>Aborted or closed: callers get ENOTCONN, the reader ENODEV, writes ENOENT.</summary>
    Disconnected,
}

/// <summary>A consistent snapshot of the device's counters (for tests and diagnostics).</summary>
public readonly record struct VirtualDeviceStats(
    VirtualDeviceState State,
    int MaxOutstanding,
    int Credit,
    int Debt,
    int WaitingForCredit,
    int Pending,
    int Processing,
    int Background,
    int BackgroundReferences,
    int NodeReferences,
    int InterruptsQueued,
    int ForgetsQueued,
    int Copying);
