using Akka.Actor;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// Brings the continuations of a filesystem's asynchronous handler back into its actor: each <c>await</c> resumes
/// as a message to the actor (<see cref="RunContinuation"/>), so the code after it may touch the actor's state as
/// safely as a handler can, while other requests are served in between (the awaits of many requests interleave;
/// none blocks the mailbox, unlike Akka's <c>ReceiveAsync</c>).
/// </summary>
internal sealed class ActorSynchronizationContext(IActorRef self) : SynchronizationContext
{
    public override void Post(SendOrPostCallback d, object? state) => self.Tell(new RunContinuation(d, state), ActorRefs.NoSender);

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("a filesystem actor's continuations run as messages; Send would block the actor");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs <paramref name="action"/> with this context current, so the awaits inside it come back here.</summary>
    public void Run<TState>(Action<TState> action, TState state)
    {
        var previous = Current;
        SetSynchronizationContext(this);
        try { action(state); }
        finally { SetSynchronizationContext(previous); }
    }

    /// <summary>One continuation of an asynchronous handler, run by the actor when it receives it.</summary>
    internal sealed record RunContinuation(SendOrPostCallback Callback, object? State) : INoSerializationVerificationNeeded;
}
