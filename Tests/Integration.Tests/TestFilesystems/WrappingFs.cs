using Akka.Actor;

namespace FuseActors.Integration.Tests.TestFilesystems;

/// <summary>
/// A test filesystem that wraps a real one (its child, watched): it sees every message first, takes those it
/// <see cref="Intercept"/>s, and forwards the rest, sender and all, to the child, which answers them itself. It stops
/// when the child does.
/// </summary>
public abstract class WrappingFs : UntypedActor
{
    protected WrappingFs(Props inner, string childName)
    {
        Inner = Context.ActorOf(inner, childName);
        Context.Watch(Inner);
    }

    /// <summary>The wrapped filesystem.</summary>
    protected IActorRef Inner { get; }

    /// <summary>Handles <paramref name="message"/> and returns true, or returns false to have it forwarded.</summary>
    protected abstract bool Intercept(object message);

    protected sealed override void OnReceive(object message)
    {
        if (Intercept(message)) return;
        if (message is Terminated t && t.ActorRef.Equals(Inner)) Context.Stop(Self);
        else Inner.Forward(message);
    }
}
