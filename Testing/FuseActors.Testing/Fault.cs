using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// One armed fault: at <see cref="Point"/>, for the next request(s) that match, run an action and/or change what
/// happens to the reply. Arm faults through <see cref="FaultInjector"/>. Await <see cref="Fired"/> to know the fault
/// has taken effect (for a reply fault: the reply was dropped, held, delivered late or corrupted).
/// </summary>
public sealed class Fault
{
    private readonly Func<VirtualRequestInfo, bool>? _where;
    private readonly Action<FaultContext>? _action;
    private readonly TaskCompletionSource<VirtualRequestInfo> _fired = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _remaining;
    private int _fireCount;

    internal Fault(FaultPoint point, Opcode? opcode, Func<VirtualRequestInfo, bool>? where, Action<FaultContext>? action,
        ReplyHandling reply, int times)
    {
        if (times < 1) throw new ArgumentOutOfRangeException(nameof(times), "a fault fires at least once");
        if (reply.Kind != ReplyHandlingKind.Deliver && point != FaultPoint.DuringReply)
            throw new ArgumentException("only a DuringReply fault can change the reply", nameof(reply));
        Point = point;
        Opcode = opcode;
        _where = where;
        _action = action;
        Reply = reply;
        _remaining = times;
    }

    public FaultPoint Point { get; }

    /// <summary>The operation it fires on; null = any request.</summary>
    public Opcode? Opcode { get; }

    /// <summary>How many more times it fires.</summary>
    public int Remaining => Volatile.Read(ref _remaining);

    /// <summary>How many times it has fired.</summary>
    public int FireCount => Volatile.Read(ref _fireCount);

    /// <summary>Completes with the first request the fault fired on, once it has taken effect; faults with the
    /// exception if the fault's action threw.</summary>
    public Task<VirtualRequestInfo> Fired => _fired.Task;

    internal ReplyHandling Reply { get; }

    /// <summary>Takes one firing if the request matches. Called under the injector's lock.</summary>
    internal bool TryClaim(FaultPoint point, in VirtualRequestInfo request)
    {
        if (point != Point || _remaining == 0) return false;
        if (Opcode is { } op && op != request.Opcode) return false;
        if (_where is not null && !_where(request)) return false;
        _remaining--;
        return true;
    }

    /// <summary>Runs the action; false if it threw (the fault then completes with that exception and the request goes
    /// on as if the fault had no reply effect).</summary>
    internal bool RunAction(FaultContext context)
    {
        try
        {
            _action?.Invoke(context);
            return true;
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _fireCount);
            _fired.TrySetException(e);
            return false;
        }
    }

    internal void Complete(in VirtualRequestInfo request)
    {
        Interlocked.Increment(ref _fireCount);
        _fired.TrySetResult(request);
    }

    public override string ToString() => $"{Point} {(Opcode?.ToString() ?? "any")} → {Reply.Kind} (remaining {Remaining})";
}

/// <summary>What is done to the reply at <see cref="FaultPoint.DuringReply"/>.</summary>
internal enum ReplyHandlingKind { Deliver, Drop, Hold, Delay, Malform }

internal readonly record struct ReplyHandling(ReplyHandlingKind Kind, TimeSpan Delay = default,
    ReplyMalformation Malformation = default, HeldReply? Held = null)
{
    public static ReplyHandling Deliver => new(ReplyHandlingKind.Deliver);
}
