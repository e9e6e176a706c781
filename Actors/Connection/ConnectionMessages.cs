using Akka.Actor;
using Akka.Event;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>Periodic check of the request deadlines (interrupt grace, request timeout), and of INIT's. Its timer may
/// fire just as the connection stops; that last tick is nobody's concern, so it is no dead letter worth a log line.</summary>
internal sealed class SweepDeadlines : INoSerializationVerificationNeeded, IDeadLetterSuppression
{
    public static readonly SweepDeadlines Instance = new();
}

/// <summary>Ask the connection to stop serving: the filesystem is told (DESTROY) and every request in flight is answered.
/// A connection that has already stopped (its device ended first, as after an unmount) has nothing left to do: no dead
/// letter worth a log line.</summary>
public sealed class StopConnection : INoSerializationVerificationNeeded, IDeadLetterSuppression
{
    public static readonly StopConnection Instance = new();
}

/// <summary>The negotiated result of FUSE_INIT, published when the connection is ready.</summary>
public sealed record ConnectionReady(uint KernelMinor, InitFlags Flags, uint MaxWrite) : INoSerializationVerificationNeeded
{
    /// <summary>"io-uring" when INIT took FUSE over io_uring, else "/dev/fuse".</summary>
    public string Transport => (Flags & InitFlags.OverIoUring) != 0 ? "io-uring" : "/dev/fuse";
}

/// <summary>A snapshot of the connection's bookkeeping, for tests and diagnostics.</summary>
/// <param name="Background">Requests the engine answered (timeout, interrupt grace) that the filesystem has not let go of.</param>
/// <param name="PinnedNodes">Nodes those background requests keep alive across FORGET.</param>
/// <param name="ReadPerQueue">Requests each device queue's reader has read, in queue order.</param>
public sealed record ConnectionStats(int InFlight, int Background, int PinnedNodes, int DeferredForgets, long Answered,
    IReadOnlyList<long> ReadPerQueue) : INoSerializationVerificationNeeded;

/// <summary>Asks for <see cref="ConnectionStats"/>.</summary>
public sealed class GetConnectionStats : INoSerializationVerificationNeeded
{
    public static readonly GetConnectionStats Instance = new();
}

/// <summary>Turns the connection's debug logging (each request with its arguments, each reply) on or off while it serves.</summary>
public sealed record SetDebugLogging(bool On) : INoSerializationVerificationNeeded;

/// <summary>Asks for the connection's live <see cref="Diagnostics.ConnectionMetrics"/> (the object, not a copy).</summary>
public sealed class GetConnectionMetrics : INoSerializationVerificationNeeded
{
    public static readonly GetConnectionMetrics Instance = new();
}
