using FuseActors.Engine.Protocol;

namespace FuseActors.Engine.Virtual;

/// <summary>
/// The operations a connection no longer sends because the filesystem answered them ENOSYS — the kernel's
/// <c>no_open</c>, <c>no_flush</c>, <c>no_access</c> ... bits. Which operations can be switched off is the operation
/// table's <see cref="OperationInfo.EnosysSticky"/>; what the caller gets instead stays with each operation.
/// Thread-safe: clients acting for different callers share one.
/// </summary>
internal sealed class SwitchedOffOperations
{
    // One bit per opcode; every opcode the table knows is below 64.
    private long _bits;

    public bool IsOff(Opcode opcode) => (Volatile.Read(ref _bits) & Bit(opcode)) != 0;

    /// <summary>Records a reply's errno: true when it switched <paramref name="opcode"/> off (ENOSYS to a sticky
    /// operation), so the caller treats the call as the kernel does after that.</summary>
    public bool Note(Opcode opcode, Errno error)
    {
        if (!Operations.SwitchesOff(opcode, error)) return false;
        Interlocked.Or(ref _bits, Bit(opcode));
        return true;
    }

    private static long Bit(Opcode opcode) => (uint)opcode < 64 ? 1L << (int)(uint)opcode : 0;
}
