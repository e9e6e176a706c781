using Akka.Actor;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>A Request actor's verdict: answer the kernel for the filesystem (EINTR after the interrupt grace, EIO after the request timeout).</summary>
internal sealed record AnswerOnBehalf(ulong Unique, Errno Error, string Reason) : INoSerializationVerificationNeeded;

/// <summary>Sent by the connection to a request's watcher when its caller was interrupted.</summary>
internal sealed class CallerInterrupted : INoSerializationVerificationNeeded
{
    public static readonly CallerInterrupted Instance = new();
}

/// <summary>Periodic look for requests that have waited long enough to deserve a Request actor.</summary>
internal sealed class SweepSlowRequests : INoSerializationVerificationNeeded
{
    public static readonly SweepSlowRequests Instance = new();
}

/// <summary>Ask the connection to stop serving: the filesystem is told (DESTROY) and every request in flight is answered.</summary>
public sealed class StopConnection : INoSerializationVerificationNeeded
{
    public static readonly StopConnection Instance = new();
}

/// <summary>The negotiated result of FUSE_INIT, published when the connection is ready.</summary>
public sealed record ConnectionReady(uint KernelMinor, InitFlags Flags, uint MaxWrite) : INoSerializationVerificationNeeded;

/// <summary>A snapshot of the connection's bookkeeping, for tests and diagnostics.</summary>
/// <param name="ReadPerQueue">Requests each device queue's reader has read, in queue order.</param>
public sealed record ConnectionStats(int InFlight, int Background, int Watchers, int DeferredForgets, long Answered,
    IReadOnlyList<long> ReadPerQueue) : INoSerializationVerificationNeeded;

/// <summary>Asks for <see cref="ConnectionStats"/>.</summary>
public sealed class GetConnectionStats : INoSerializationVerificationNeeded
{
    public static readonly GetConnectionStats Instance = new();
}
