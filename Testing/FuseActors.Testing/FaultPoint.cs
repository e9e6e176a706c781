namespace FuseActors.Testing;

/// <summary>Where in a request's life a <see cref="Fault"/> fires.</summary>
public enum FaultPoint
{
    /// <summary>
    /// The request is queued and is the next one the engine will read; the filesystem has not seen it. A signal here
    /// (<see cref="FaultInjector.InterruptAt"/>) dequeues it and its caller gets EINTR; an abort ends it with ECONNABORTED.
    /// </summary>
    BeforeFilesystemReads,

    /// <summary>
    /// The engine has read the request (the kernel side counts it as sent) and is about to hand it to the filesystem,
    /// which has not answered. A signal here backgrounds the request, returns EINTR to its caller and queues a
    /// FUSE_INTERRUPT that the filesystem then sees.
    /// </summary>
    AfterReadBeforeReply,

    /// <summary>
    /// The engine is writing the filesystem's reply; the kernel side has not received it. Besides running an action,
    /// a fault here may drop, hold, delay or corrupt the reply.
    /// </summary>
    DuringReply,
}
