using FuseActors.Engine.Virtual;

namespace FuseActors.Testing;

/// <summary>What a fault's action sees and may do.</summary>
public sealed class FaultContext
{
    internal FaultContext(FaultPoint point, VirtualRequestInfo request, VirtualDevice device)
    {
        Point = point;
        Request = request;
        Device = device;
    }

    public FaultPoint Point { get; }

    /// <summary>The request the fault fired on (unique, opcode, node, caller, length).</summary>
    public VirtualRequestInfo Request { get; }

    /// <summary>The kernel side of the connection.</summary>
    public VirtualDevice Device { get; }

    /// <summary>Aborts the connection now (fusectl abort): every request in flight ends with ECONNABORTED.</summary>
    public void AbortDevice() => Device.Abort();
}
