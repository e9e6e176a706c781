using System.Diagnostics;
using Akka.Actor;
using FuseActors.Engine.Protocol;

namespace FuseActors.Actors.Connection;

/// <summary>
/// The life of one request that waits: spawned by the connection only for a request that is still unanswered
/// after <c>slow-request-threshold</c> or whose caller was interrupted. It owns the request's deadlines: the
/// request timeout (then EIO, the filesystem is presumed stuck) and, after an interrupt, the interrupt grace
/// (then EINTR, so a killed caller is released even if the filesystem never looks at its cancellation).
/// The cancellation itself is delivered by the connection (it flips the request's CancellationToken).
///
/// Why not one actor per request: measured on these machines (docs/akka-and-style.md §2), a per-request actor
/// costs about 1.5 µs and 4–6 KB of garbage; the same pipeline ran 2.6–2.9 M req/s with request state in the
/// connection's dictionary against 0.55 M with an actor each. Almost every request is answered in microseconds,
/// so the common path keeps no actor and only the few that wait get one.
/// </summary>
internal sealed class RequestActor : ReceiveActor, IWithTimers
{
    private const string TimeoutKey = "timeout";
    private const string GraceKey = "grace";

    public ITimerScheduler Timers { get; set; } = null!;

    public RequestActor(ulong unique, long startTimestamp, TimeSpan requestTimeout, TimeSpan interruptGrace, bool interrupted)
    {
        var remaining = requestTimeout - Stopwatch.GetElapsedTime(startTimestamp);
        Timers.StartSingleTimer(TimeoutKey, new AnswerOnBehalf(unique, Errno.EIO, $"no reply within the request timeout ({requestTimeout.TotalSeconds:0.###} s)"),
            remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
        if (interrupted) StartGrace(unique, interruptGrace);

        Receive<CallerInterrupted>(_ => StartGrace(unique, interruptGrace));
        Receive<AnswerOnBehalf>(a => Context.Parent.Tell(a));
    }

    private void StartGrace(ulong unique, TimeSpan grace)
    {
        if (Timers.IsTimerActive(GraceKey)) return;
        Timers.StartSingleTimer(GraceKey, new AnswerOnBehalf(unique, Errno.EINTR, $"caller interrupted and no reply within the interrupt grace ({grace.TotalSeconds:0.###} s)"), grace);
    }

    public static Props Props(ulong unique, long startTimestamp, TimeSpan requestTimeout, TimeSpan interruptGrace, bool interrupted) =>
        Akka.Actor.Props.Create<RequestActor>(unique, startTimestamp, requestTimeout, interruptGrace, interrupted);
}
