using FuseActors.Engine.Protocol;
using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>
/// Arms faults at named points of a served filesystem's request stream (<see cref="FaultPoint"/>). Each fault fires
/// on the next matching request(s) — by opcode, optionally narrowed by a predicate — a given number of times
/// (once by default), in the order the faults were armed. Faults live in the device wrapper the test kit puts between
/// the engine and the <see cref="VirtualDevice"/>; the engine itself is unchanged and pays nothing for them.
/// </summary>
public sealed class FaultInjector
{
    private readonly object _lock = new();
    private readonly List<Fault> _faults = [];
    private int _armed;

    internal FaultInjector(VirtualDevice device) => Device = device;

    public VirtualDevice Device { get; }

    /// <summary>The faults armed so far (fired ones included).</summary>
    public IReadOnlyList<Fault> Faults { get { lock (_lock) return _faults.ToArray(); } }

    /// <summary>Runs <paramref name="action"/> at <paramref name="point"/> for the next request(s) with this opcode.</summary>
    public Fault At(FaultPoint point, Opcode opcode, Action<FaultContext> action, Func<VirtualRequestInfo, bool>? where = null, int times = 1) =>
        Arm(new Fault(point, opcode, where, action ?? throw new ArgumentNullException(nameof(action)), ReplyHandling.Deliver, times));

    /// <summary>Runs <paramref name="action"/> at <paramref name="point"/> for the next request(s) of any kind
    /// matching <paramref name="where"/>.</summary>
    public Fault At(FaultPoint point, Func<VirtualRequestInfo, bool> where, Action<FaultContext> action, int times = 1) =>
        Arm(new Fault(point, null, where ?? throw new ArgumentNullException(nameof(where)),
            action ?? throw new ArgumentNullException(nameof(action)), ReplyHandling.Deliver, times));

    /// <summary>Signals the caller at <paramref name="point"/>: cancels <paramref name="caller"/>, the token that caller
    /// passed to its operation, exactly as a signal interrupts a syscall.</summary>
    public Fault InterruptAt(FaultPoint point, Opcode opcode, CancellationTokenSource caller, Func<VirtualRequestInfo, bool>? where = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return At(point, opcode, _ => caller.Cancel(), where);
    }

    /// <summary>Aborts the device at <paramref name="point"/> of the next request with this opcode.</summary>
    public Fault AbortAt(FaultPoint point, Opcode opcode, Func<VirtualRequestInfo, bool>? where = null) =>
        At(point, opcode, c => c.AbortDevice(), where);

    /// <summary>Aborts the device now (fusectl abort): every request in flight ends with ECONNABORTED, later callers
    /// get ENOTCONN, the engine's reader sees the end of the connection.</summary>
    public void AbortDevice() => Device.Abort();

    /// <summary>The filesystem's reply is lost on the way: the engine believes it answered, the caller keeps waiting
    /// (until it is interrupted or the device aborted). The filesystem's answer to a later INTERRUPT for the request
    /// is swallowed too, so the interrupt is not queued again.</summary>
    public Fault DropReply(Opcode opcode, Func<VirtualRequestInfo, bool>? where = null, int times = 1) =>
        Arm(new Fault(FaultPoint.DuringReply, opcode, where, null, new ReplyHandling(ReplyHandlingKind.Drop), times));

    /// <summary>The reply reaches the kernel side <paramref name="delay"/> after the engine wrote it.
    /// <see cref="Fault.Fired"/> completes once it was delivered.</summary>
    public Fault DelayReply(Opcode opcode, TimeSpan delay, Func<VirtualRequestInfo, bool>? where = null, int times = 1)
    {
        if (delay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(delay));
        return Arm(new Fault(FaultPoint.DuringReply, opcode, where, null, new ReplyHandling(ReplyHandlingKind.Delay, delay), times));
    }

    /// <summary>The next reply to <paramref name="opcode"/> is held until the test releases it: the deterministic
    /// form of a delay (interrupt or abort while the reply is "on its way", then release it).</summary>
    public HeldReply HoldReply(Opcode opcode, Func<VirtualRequestInfo, bool>? where = null)
    {
        var held = new HeldReply();
        held.Fault = Arm(new Fault(FaultPoint.DuringReply, opcode, where, null, new ReplyHandling(ReplyHandlingKind.Hold, Held: held), 1));
        return held;
    }

    /// <summary>The reply is replaced by a malformed one that the kernel side rejects (see <see cref="ReplyMalformation"/>
    /// for what the caller then sees).</summary>
    public Fault MalformReply(Opcode opcode, ReplyMalformation how = ReplyMalformation.PayloadTooLong,
        Func<VirtualRequestInfo, bool>? where = null, int times = 1) =>
        Arm(new Fault(FaultPoint.DuringReply, opcode, where, null, new ReplyHandling(ReplyHandlingKind.Malform, Malformation: how), times));

    /// <summary>Disarms every fault that has not fired yet.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _faults.Clear();
            Volatile.Write(ref _armed, 0);
        }
    }

    private Fault Arm(Fault fault)
    {
        lock (_lock)
        {
            _faults.Add(fault);
            Volatile.Write(ref _armed, _faults.Count);
        }
        return fault;
    }

    /// <summary>The first armed fault at <paramref name="point"/> that matches the request, with one firing taken.</summary>
    internal Fault? Claim(FaultPoint point, in VirtualRequestInfo request)
    {
        if (Volatile.Read(ref _armed) == 0) return null;
        lock (_lock)
        {
            foreach (var f in _faults)
                if (f.TryClaim(point, request)) return f;
            return null;
        }
    }
}
