using Akka.Actor;

namespace FuseActors.Actors.Filesystem;

/// <summary>
/// The caller of <see cref="Request"/> was interrupted (FUSE_INTERRUPT: a signal). Sent by the engine to the
/// filesystem actor, so the interrupt is handled in the actor like any other message and never on the engine's
/// thread. <see cref="FilesystemActor"/> handles it by cancelling <see cref="FsRequest.Cancellation"/> (in the actor)
/// and calling its <c>Interrupted</c> handler. The request may already be answered by then: nothing to do.
/// </summary>
public sealed record RequestInterrupted(FsRequest Request) : INoSerializationVerificationNeeded
{
    /// <summary>Cancels <see cref="FsRequest.Cancellation"/> here, in the caller's context (an actor that is not a
    /// <see cref="FilesystemActor"/> calls this when it handles the message; until then the token stays uncancelled).</summary>
    public void CancelToken() => Request.DeliverCancellation();
}
